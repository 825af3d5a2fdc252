"""One loopback stand-in for where the builders download from: GitHub raw files and the Hugging Face hub's file API.
Builders run their real download code (urllib for raw files, huggingface_hub for the hub) against it, offline."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class Upstream:
    """Serves ``raw`` as ``/raw/<repo>/<commit>/<path>`` (point SAFEBENCH_GITHUB_RAW at ``base + "/raw"``) and
    ``hub_files`` of the dataset ``hub_repo`` at revision ``commit`` (also reachable as ``main``): revision info,
    tree listing, HEAD and GET of ``/datasets/<repo>/resolve/<revision>/<path>`` (point HF_ENDPOINT at ``base``).
    ``gated = True`` makes the hub answer 401 GatedRepo. ``requests`` records ``"<METHOD> <path>"`` in order;
    ``paths`` the paths alone. Use it as a context manager."""

    def __init__(self, raw: dict[str, bytes] | None = None, hub_repo: str = "", hub_files: dict[str, bytes] | None = None,
                 commit: str = "a" * 40):
        self.raw, self.hub_repo, self.hub_files, self.commit = raw or {}, hub_repo, hub_files or {}, commit
        self.gated, self.requests = False, []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body=b"", headers=None, send_body=True):
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def serve(self, send_body):
                path = unquote(urlparse(self.path).path)
                upstream.requests.append(f"{self.command} {path}")
                if path.startswith("/raw/"):
                    data = upstream.raw.get(path[len("/raw/"):])
                    return self.reply(200 if data is not None else 404, data or b"404: Not Found",
                                      send_body=send_body)
                if upstream.gated:
                    return self.reply(401, b'{"error": "gated"}', {"X-Error-Code": "GatedRepo",
                                                                   "X-Error-Message": "Access to this dataset is "
                                                                                      "restricted"}, send_body)
                api = f"/api/datasets/{upstream.hub_repo}/"
                if path.startswith(api + "revision/"):
                    body = json.dumps({"id": upstream.hub_repo, "sha": upstream.commit, "siblings": []}).encode()
                    return self.reply(200, body, {"Content-Type": "application/json"}, send_body)
                if path.startswith(api + "tree/"):
                    listing = [{"type": "file", "path": name, "size": len(data),
                                "oid": hashlib.sha1(data).hexdigest()} for name, data in upstream.hub_files.items()]
                    return self.reply(200, json.dumps(listing).encode(), {"Content-Type": "application/json"},
                                      send_body)
                data = None
                for revision in (upstream.commit, "main"):
                    prefix = f"/datasets/{upstream.hub_repo}/resolve/{revision}/"
                    if path.startswith(prefix):
                        data = upstream.hub_files.get(path[len(prefix):])
                if data is None:
                    return self.reply(404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"}, send_body)
                self.reply(200, data, {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Repo-Commit": upstream.commit,
                                       "Content-Type": "application/octet-stream"}, send_body)

            def do_GET(self):
                self.serve(True)

            def do_HEAD(self):
                self.serve(False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def paths(self) -> list[str]:
        return [request.split(" ", 1)[1] for request in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
