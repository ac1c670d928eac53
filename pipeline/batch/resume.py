"""Resume: decide whether a study's outputs are complete and up to date, by a marker written last.

A study is *up to date* when ``OUT/<study>/batch_complete.json`` exists, its
fingerprint equals the fingerprint of the study as it is now, and every output
it lists is present with the SHA-256 it recorded. The fingerprint is the
SHA-256 of:

* every regular file below the study folder (path relative to it, size in
  bytes, modification time in ns), in sorted order;
* the content of the targets file;
* the run parameters (:meth:`RunConfig.as_record`) except ``threads``, which
  does not change results;
* the software versions (:func:`pipeline.provenance.software_versions`),
  including the SHA-256 of this project's source code, so that a code change
  reruns the study even without a version bump.

The marker is deleted before a study is run and written only after the run's
outputs are in place, so a killed or failed run never leaves a study that looks
done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import RunConfig
from pipeline.outputs import names
from pipeline.outputs.staging import atomic_write_text
from pipeline.provenance import software_versions

MARKER = "batch_complete.json"
REQUIRED_OUTPUTS = (names.MEASUREMENTS_CSV, names.RESPONSE_CSV, names.SUMMARY_TXT, names.RUN_JSON)
_NOT_FINGERPRINTED = ("threads",)


@dataclass(frozen=True)
class Fingerprint:
    """What a study's outputs depend on; ``digest`` is the SHA-256 of all of it (hex)."""

    digest: str
    files: int
    bytes: int

    def as_record(self) -> dict[str, object]:
        return {"sha256": self.digest, "files": self.files, "bytes": self.bytes}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def study_fingerprint(
    study_dir: Path, targets_file: Path | None, config: RunConfig, dicom_out: bool = False
) -> Fingerprint:
    """Fingerprint of one study's inputs, targets, parameters and software (see module doc);
    ``dicom_out`` (DICOM SEG and SR written too) counts as a parameter."""
    h = hashlib.sha256()
    n_files = n_bytes = 0
    for dirpath, dirnames, filenames in os.walk(study_dir, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            st = path.stat()
            h.update(f"{path.relative_to(study_dir).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            n_files += 1
            n_bytes += st.st_size
    h.update(b"targets\0")
    h.update(targets_file.read_bytes() if targets_file is not None and targets_file.is_file() else b"<missing>")
    parameters = {k: v for k, v in config.as_record().items() if k not in _NOT_FINGERPRINTED}
    h.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    if dicom_out:
        h.update(b"dicom_out\0")
    h.update(json.dumps(software_versions(), sort_keys=True).encode())
    return Fingerprint(h.hexdigest(), n_files, n_bytes)


def _expected_outputs(out_dir: Path) -> list[str]:
    """The outputs a complete run leaves: the fixed files plus every mask named in ``run.json``."""
    manifest = json.loads((out_dir / names.RUN_JSON).read_text(encoding="utf-8"))
    masks = [tp["mask"] for tp in manifest["inputs"]["timepoints"]]
    return [*REQUIRED_OUTPUTS, *masks]


def clear_marker(out_dir: Path) -> None:
    """Remove the marker before a study is (re)run: until it is written again the study is not done."""
    with contextlib.suppress(FileNotFoundError):
        (out_dir / MARKER).unlink()


def write_marker(out_dir: Path, fingerprint: Fingerprint) -> None:
    """Record ``fingerprint`` and the SHA-256 of every output; call after the outputs are in place."""
    outputs = {name: _sha256_file(out_dir / name) for name in _expected_outputs(out_dir)}
    record = {
        "fingerprint": fingerprint.as_record(),
        "outputs_sha256": outputs,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(out_dir / MARKER, json.dumps(record, indent=2) + "\n")


def up_to_date(out_dir: Path, fingerprint: Fingerprint) -> tuple[bool, str]:
    """Whether ``out_dir`` holds complete outputs of exactly ``fingerprint``; with the reason when not."""
    marker = out_dir / MARKER
    if not marker.is_file():
        return False, "no completion marker"
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        if record["fingerprint"]["sha256"] != fingerprint.digest:
            return False, "inputs, targets, parameters or software changed"
        recorded: dict[str, str] = record["outputs_sha256"]
        missing = [name for name in _expected_outputs(out_dir) if name not in recorded]
        if missing:
            return False, f"marker does not cover {missing[0]}"
        for name, digest in recorded.items():
            path = out_dir / name
            if not path.is_file():
                return False, f"{name} missing"
            if _sha256_file(path) != digest:
                return False, f"{name} changed since the run"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"unreadable marker or run.json ({type(exc).__name__})"
    return True, "up to date"
