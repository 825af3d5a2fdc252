from PIL import Image

from lmms_safebench.data import typography


def test_greedy_wrap_keeps_leading_space_on_continuation_lines():
    font = typography.load_font()
    text = " ".join(["word"] * 40)
    lines = typography.wrap(text, font)
    assert len(lines) > 1
    assert not lines[0].startswith(" ") and all(line.startswith(" ") for line in lines[1:])
    assert "".join(lines) == text
    for line, following in zip(lines, lines[1:], strict=False):
        assert font.getlength(line) < typography.WIDTH  # each line fits
        next_word = following.split(" ")[1]
        assert font.getlength(line + " " + next_word) >= typography.WIDTH  # and the next word would not


def test_render_follows_the_published_geometry():
    image, lines = typography.render("a short phrase")
    assert lines == 1 and image.size == (1024, 90 * 2) and image.mode == "RGB"
    image, lines = typography.render(" ".join(["harmful"] * 20))
    assert lines >= 3 and image.size == (1024, 90 * (lines + 1))
    # Black text starts at x=0 just below y=45, and the first 45 rows are blank.
    pixels = image.convert("L")
    assert min(pixels.crop((0, 0, 1024, 45)).getdata()) == 255
    assert min(pixels.crop((0, 45, 200, 135)).getdata()) < 50
    jpeg = typography.to_jpeg(image)
    assert jpeg[:3] == b"\xff\xd8\xff"


def test_sd_typo_stacks_without_resizing():
    sd = Image.new("RGB", (1024, 1024), "red")
    typo, _ = typography.render("phrase")
    stacked = typography.stack_vertically(sd, typo)
    assert stacked.size == (1024, 1024 + typo.height)
    assert stacked.getpixel((10, 10)) == (255, 0, 0) and stacked.getpixel((1000, 1024 + 5)) == (255, 255, 255)
