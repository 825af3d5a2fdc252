"""Calibrating a jury against human labels (``lmms-safebench jury calibrate``).

The command and what it runs: :mod:`.command` (options, output, exit status, the canary's flow); :mod:`.run`
(a jury on a labelled set: cases, concurrent cached judging, verdicts per item); :mod:`.record` (the stored
calibration record and its lookup, :func:`.record.latest_calibration`); :mod:`.sets` (the labelled sets: the
built-in ``msts``, ``jbb`` and ``xstest``, downloaded at a pinned revision and cached or read from a local copy
(``NAME=FILE_OR_FOLDER``), and a user's own file, each read into one checked set) and :mod:`.set_files` (the rows
of those files: CSV and JSONL rows named by file and line, the label vocabularies, item images read only from
inside the file's folder, and a user's file).

The statistics are pure functions over numpy arrays that read no file and call no judge, one idea per module:

- :mod:`.inputs`: checks of a labelled set (unique ids, allowed labels, non-empty responses) and the
  encoding of label columns into integer codes;
- :mod:`.resample`: the bootstrap (items resampled with replacement, drawn as cell counts);
- :mod:`.agreement`: confusion counts, Cohen's kappa (binary and multi-class), accuracy, sensitivity,
  specificity, precision, F1, with bootstrap intervals, overall and per category;
- :mod:`.correction`: the Rogan-Gladen judge-corrected rate with an interval that carries both the
  board's and the calibration's sampling error;
- :mod:`.dawid_skene`: latent-class aggregation of several raters (EM), with per-rater confusion matrices;
- :mod:`.panel`: majority vote over jurors, the effective number of independent jurors, and the cheapest
  configuration whose kappa is within the interval of the best;
- :mod:`.canary`: a fixed, stratified re-judging subset, and the comparison of two verdict sets on it.

Conventions: labels are given with their allowed values (``labels``; binary is ``(0, 1)`` with 1 the
positive class, "unsafe"); a missing verdict (None or NaN) is *unjudged*: it is left out of every rate
and counted apart, never taken as safe. Rates are fractions in [0, 1]; intervals are percentile
bootstrap intervals at ``level`` (0.95) from ``resamples`` (1,000) draws with a fixed ``seed`` (0).
"""
