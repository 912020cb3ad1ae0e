"""A Dataverse repository's side of the fetchers: a DOI's file list, and verified, atomic downloads.

The transport is one callable, ``opener(url, timeout)``, returning a readable
binary response usable as a context manager (:func:`urllib.request.urlopen` by
default), so that tests serve the API answer and the files without a network.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from ._base import UnverifiedDownloadWarning, file_digest

__all__ = ["DATAVERSE_SERVER", "DataverseFile", "DataverseRecord", "dataset_record", "download_file",
           "is_verified_copy"]

#: NTU's research-data repository (DR-NTU (Data)), where AdaTime's preprocessed data sets are published.
DATAVERSE_SERVER = "https://researchdata.ntu.edu.sg"
# checksum type as the Dataverse API names it (upper case, with or without a dash) -> hashlib name
_ALGORITHMS = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}


@dataclass(frozen=True)
class DataverseFile:
    """One file of a Dataverse dataset version: what its download is checked against."""

    id: int
    filename: str
    directory: str
    size: int | None
    algorithm: str | None  # hashlib name, None when the repository publishes no checksum
    checksum: str | None


@dataclass(frozen=True)
class DataverseRecord:
    """A dataset's latest version: its files, its licence as published, its version number."""

    doi: str
    server: str
    files: tuple
    license: str
    version: str


def default_opener(url, timeout):
    """:func:`urllib.request.urlopen` with a user agent (some servers refuse Python's default one)."""
    request = urllib.request.Request(url, headers={"User-Agent": "skrcd"})
    return urllib.request.urlopen(request, timeout=timeout)


def _read_url(opener, url, timeout):
    try:
        with opener(url, timeout) as response:
            return response.read()
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise OSError(f"could not read {url}: {exc}") from exc


def _checksum(data_file, where):
    checksum = data_file.get("checksum")
    if isinstance(checksum, dict) and checksum.get("value"):
        kind, value = str(checksum.get("type", "")), str(checksum["value"])
    elif data_file.get("md5"):  # older Dataverse versions
        kind, value = "MD5", str(data_file["md5"])
    else:
        return None, None
    algorithm = _ALGORITHMS.get(kind.upper().replace("-", ""))
    if algorithm is None:
        raise ValueError(f"{where}: checksum type {kind!r} cannot be verified here (known: MD5, SHA-1, SHA-256, "
                         "SHA-512)")
    return algorithm, value.lower()


def _license(version):
    lic = version.get("license")
    if isinstance(lic, dict) and lic.get("name"):
        return lic["name"] + (f" ({lic['uri']})" if lic.get("uri") else "")
    if isinstance(lic, str) and lic:
        return lic
    terms = version.get("termsOfUse")
    return str(terms) if terms else "not stated in the repository's answer"


def dataset_record(doi, server=DATAVERSE_SERVER, opener=None, timeout=60.0):
    """The latest version of a Dataverse dataset, read from the native API.

    ``GET {server}/api/datasets/:persistentId/?persistentId={doi}``; each file's id,
    name, folder, size and published checksum come from ``data.latestVersion.files``.

    Parameters
    ----------
    doi : str
        ``"doi:10.21979/N9/OWDFXO"``.
    server : str, default=DATAVERSE_SERVER
    opener : callable, optional
        ``opener(url, timeout)`` -> binary response; :func:`urllib.request.urlopen` by default.
    timeout : float, default=60

    Returns
    -------
    DataverseRecord

    Raises
    ------
    OSError
        The server could not be reached.
    ValueError
        The answer is not the API's JSON (or reports an error).
    """
    opener = default_opener if opener is None else opener
    url = f"{server.rstrip('/')}/api/datasets/:persistentId/?persistentId={urllib.parse.quote(doi, safe=':/')}"
    raw = _read_url(opener, url, timeout)
    try:
        answer = json.loads(raw.decode("utf-8"))
        if answer.get("status") not in (None, "OK"):
            raise ValueError(f"status {answer.get('status')!r}: {answer.get('message', '')}")
        version = answer["data"]["latestVersion"]
        entries = version["files"]
        files = []
        for entry in entries:
            data_file = entry["dataFile"]
            name = data_file.get("filename") or entry["label"]
            algorithm, value = _checksum(data_file, f"{url}: {name}")
            size = data_file.get("filesize")
            files.append(DataverseFile(int(data_file["id"]), str(name), str(entry.get("directoryLabel", "")),
                                       None if size is None else int(size), algorithm, value))
    except ValueError as exc:
        raise ValueError(f"{url}: not a Dataverse dataset answer: {exc}") from None
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{url}: not a Dataverse dataset answer (missing {exc})") from None
    number = f"{version.get('versionNumber', '?')}.{version.get('versionMinorNumber', '?')}"
    return DataverseRecord(doi, server, tuple(files), _license(version), number)


def is_verified_copy(path, file):
    """Whether ``path`` holds ``file`` (its size and published checksum; an unverifiable file counts if present)."""
    path = Path(path)
    if not path.is_file() or (file.size is not None and path.stat().st_size != file.size):
        return False
    return file.checksum is None or file_digest(path, file.algorithm) == file.checksum


def download_file(file, dest, server=DATAVERSE_SERVER, opener=None, timeout=60.0, progress=None):
    """Download one file of a record to ``dest``, verified against its published size and checksum.

    The bytes go to a temporary file beside ``dest``, hashed as they arrive, and
    are renamed to ``dest`` only once complete and verified: an interrupted,
    truncated or corrupt download (or Ctrl-C) leaves no file behind.

    Parameters
    ----------
    file : DataverseFile
    dest : path-like
    server : str, default=DATAVERSE_SERVER
    opener : callable, optional
        See :func:`dataset_record`.
    timeout : float, default=60
    progress : tqdm.tqdm, optional
        Advanced by the bytes received.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    OSError
        The file could not be read from the server.
    ValueError
        Its size or checksum differs from the published one (the download is deleted).
    """
    opener = default_opener if opener is None else opener
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = f"{server.rstrip('/')}/api/access/datafile/{file.id}"
    digest = hashlib.new(file.algorithm or "sha256")
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        received = 0
        with os.fdopen(fd, "wb") as out:
            try:
                with opener(url, timeout) as response:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress.update(len(chunk))
            except OSError as exc:
                raise OSError(f"could not download {file.filename} from {url}: {exc}") from exc
        if file.size is not None and received != file.size:
            raise ValueError(f"{file.filename} ({url}): received {received} bytes, the repository lists {file.size}; "
                             "the download was deleted (an interrupted transfer?)")
        if file.checksum is None:
            warnings.warn(f"{file.filename} ({url}) has no published checksum to verify it against; "
                          f"its sha256 is {digest.hexdigest()}", UnverifiedDownloadWarning, stacklevel=3)
        elif digest.hexdigest() != file.checksum:
            raise ValueError(f"checksum mismatch for {file.filename} ({url}): {file.algorithm} {digest.hexdigest()}, "
                             f"the repository publishes {file.checksum}; the download was deleted (a corrupt "
                             "transfer or a changed file)")
        os.replace(tmp, dest)
        return dest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
