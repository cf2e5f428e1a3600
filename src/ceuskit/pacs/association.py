"""DICOM associations through ``pynetdicom``.

Our Application Entity, the presentation contexts we propose, one association as a context manager, and what
went wrong when there is none.

Received datasets are spooled to files and sent files read in chunks (pynetdicom's chunked modes, switched
on process-wide), so a clip never sits whole in memory.  pynetdicom's own log records stay at WARNING and
above: at INFO and DEBUG it prints identifiers.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom.uid import (
    JPEG2000,
    MPEG4HP41,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from ceuskit.errors import PacsError
from ceuskit.pacs.config import PacsTarget

__all__ = ["ECHO", "FIND", "GET", "MOVE", "PLAIN_SYNTAXES", "RECEIVED_SOP_CLASSES", "Contexts", "Link",
           "drop_partial", "storage_contexts"]

Contexts = Sequence[tuple[str, Sequence[str]]]
"""Presentation contexts to propose: (abstract syntax UID, transfer syntax UIDs)."""

FIND, GET, MOVE, ECHO = ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.3",
                         "1.2.840.10008.5.1.4.1.2.2.2", "1.2.840.10008.1.1")  # Study Root Q/R, Verification
_IMAGE_CLASSES = ("1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
                  "1.2.840.10008.5.1.4.1.1.6.1")  # Ultrasound Image
_OTHER_CLASSES = ("1.2.840.10008.5.1.4.1.1.6.2",  # Enhanced US Volume
                  "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
                  "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.4",  # multi-frame SC
                  "1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.22",  # Basic Text SR, Enhanced SR
                  "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive (3D) SR
                  "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
                  "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
                  "1.2.840.10008.5.1.4.1.1.77.1.4.1")  # Video Photographic
RECEIVED_SOP_CLASSES = _IMAGE_CLASSES + _OTHER_CLASSES
"""Storage SOP classes ceuskit accepts on a C-GET or C-MOVE (ultrasound, secondary capture, SR, SEG, …)."""
IMAGE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                  JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
                  JPEG2000Lossless, JPEG2000, RLELossless, MPEG4HP41)
PLAIN_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)


def storage_contexts() -> list[tuple[str, Sequence[str]]]:
    """Contexts for receiving.

    An ultrasound class once per syntax (so the stored encoding comes back as it is, not transcoded), the
    other classes with the uncompressed syntaxes.
    """
    contexts: list[tuple[str, Sequence[str]]] = []
    for uid in _IMAGE_CLASSES:
        contexts.extend((uid, [syntax]) for syntax in IMAGE_SYNTAXES)
    contexts.extend((uid, PLAIN_SYNTAXES) for uid in _OTHER_CLASSES)
    return contexts


def _quiet_pynetdicom() -> None:
    logger = logging.getLogger("pynetdicom")
    if logger.level == logging.NOTSET or logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)


class Link:
    """Associations with one peer (``target``): our AE title, timeouts, and errors in one line."""

    def __init__(self, target: PacsTarget) -> None:
        from pynetdicom import _config

        if target.host is None or target.port is None:
            raise ValueError("a DIMSE target needs a host and port")
        _config.STORE_RECV_CHUNKED_DATASET = True  # received datasets go to a file, not memory
        _config.STORE_SEND_CHUNKED_DATASET = True  # sent files are read in chunks, not decoded
        _quiet_pynetdicom()
        self.target = target

    def ae(self) -> Any:
        """Our Application Entity, with the target's timeouts."""
        from pynetdicom import AE

        ae = AE(ae_title=self.target.aet)
        transport = self.target.transport
        ae.connection_timeout = transport.connect_timeout_s
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = transport.timeout_s
        ae.maximum_pdu_size = 1 << 18
        return ae

    @contextmanager
    def open(self, contexts: Contexts, *, scp_classes: Sequence[str] = (), handlers: Sequence[Any] = ()
             ) -> Iterator[Any]:
        """Yield an established association proposing ``contexts`` (and the SCP role for ``scp_classes``).

        It is released afterwards; PacsError when there is none.
        """
        from pynetdicom import build_role

        tls = self._tls_context()
        self._check_reachable(tls)  # pynetdicom leaks its socket when the connection or handshake fails
        ae = self.ae()
        for abstract, syntaxes in contexts:
            ae.add_requested_context(abstract, list(syntaxes))
        roles = [build_role(uid, scp_role=True) for uid in scp_classes]
        assoc = ae.associate(self.target.host, self.target.port, ae_title=self.target.aec, ext_neg=roles or None,
                             evt_handlers=list(handlers),
                             tls_args=None if tls is None else (tls, str(self.target.host)))
        if not assoc.is_established:
            raise self._not_associated(assoc, contexts)
        try:
            yield assoc
        finally:
            drop_partial(assoc)
            if assoc.is_established:
                assoc.release()
            ae.shutdown()

    def _tls_context(self) -> ssl.SSLContext | None:
        """For DICOM TLS: a client context verifying the peer (system store or the target's CA bundle)."""
        if not self.target.tls:
            return None
        verify = self.target.transport.verify
        return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)

    def _check_reachable(self, tls: ssl.SSLContext | None) -> None:
        """Check that a TCP connection (and TLS handshake) to the peer succeeds; else raise PacsError.

        The error says why.
        """
        try:
            with socket.create_connection((self.target.host, self.target.port),
                                          timeout=self.target.transport.connect_timeout_s) as raw:
                if tls is not None:
                    with tls.wrap_socket(raw, server_hostname=str(self.target.host)):
                        pass
        except ssl.SSLError as exc:
            reason = exc.reason or type(exc).__name__
            if isinstance(exc, ssl.SSLCertVerificationError):
                reason = f"certificate verify failed: {exc.verify_message}"
            raise PacsError(f"the PACS at {self.target.label}: TLS failed ({reason}); if the site uses its own "
                            "certificate authority, give its CA bundle (--ca-bundle FILE or ca_bundle in the "
                            "PACS config)") from None
        except OSError as exc:
            reason = {ConnectionRefusedError: "connection refused", TimeoutError: "no answer",
                      socket.timeout: "no answer", socket.gaierror: "host name not found"}.get(
                type(exc), type(exc).__name__)
            raise PacsError(f"cannot reach the PACS at {self.target.label} ({reason}); check HOST:PORT and that "
                            "the server is running") from None

    def _not_associated(self, assoc: Any, contexts: Contexts) -> PacsError:
        where = f"the PACS at {self.target.label}"
        if assoc.is_rejected:
            return PacsError(f"{where} rejected the association: check its AE title (--aec, here "
                             f"{self.target.aec}) and that it knows ours (--aet, here {self.target.aet})")
        rejected = list(getattr(assoc, "rejected_contexts", None) or [])
        if rejected and not assoc.accepted_contexts:  # the peer answered, but took none of our proposals
            sop = str(rejected[0].abstract_syntax)
            syntax = next((syntaxes[0] for abstract, syntaxes in contexts if abstract == sop), "")
            more = f" (nor the {len(rejected) - 1} other proposal(s))" if len(rejected) > 1 else ""
            return PacsError(f"{where} does not accept {UID(sop).name} in {UID(syntax).name}{more}")
        return PacsError(f"{where} accepts connections but no DICOM association (aborted or timed out); "
                         "check that HOST:PORT is its DICOM port")


def drop_partial(assoc: Any) -> None:
    """Remove the spool file of a dataset whose reception was cut off (pynetdicom leaves it behind)."""
    message = getattr(getattr(assoc, "dimse", None), "message", None)
    handle = getattr(message, "_data_set_file", None)
    partial = getattr(message, "_data_set_path", None)
    if handle is not None:
        try:
            handle.close()
        except OSError:
            pass
    if isinstance(partial, Path):
        partial.unlink(missing_ok=True)
