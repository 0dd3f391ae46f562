"""``CertificateAuthority``: Citadel's request path (authenticate, check the CSR, authorize,
sign, record) and its administration (roots, rotation, revocation). No gRPC here: ``server``
moves messages and maps ``errors`` to status codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509

from mainsail import monitoring
from mainsail.ca.authn import Authenticator, CallerIdentity, Metadata, PodTokenAuthenticator
from mainsail.ca.authority import CaMaterial, load_material, root_due_for_rotation, rotate_root
from mainsail.ca.authz import Authorizer, ServiceAccountIdentities
from mainsail.ca.errors import RequestRefused
from mainsail.ca.identity import SpiffeId
from mainsail.ca.issuer import IssuedSvid, Signer, TtlPolicy, parse_csr, sign_svid
from mainsail.ca.layout import CaLayout
from mainsail.ca.ledger import IssuedRecord, Ledger, Revocation
from mainsail.ca.settings import CaSettings
from mainsail.ca.tokens import ensure_signing_key, verification_key

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class CertificateAuthority:
    def __init__(
        self,
        settings: CaSettings,
        *,
        authenticator: Authenticator | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._layout = CaLayout(settings.state_dir)
        self._material = load_material(
            self._layout,
            trust_domain=settings.trust_domain,
            root_ttl=settings.root_ttl,
            now=clock(),
            cacerts_dir=settings.cacerts_dir,
        )
        ensure_signing_key(self._layout.token_signing_key)
        self._authenticator = authenticator or PodTokenAuthenticator(
            verification_key(self._layout.token_signing_key)
        )
        self._ledger = Ledger(self._layout.issued_file, self._layout.revoked_file, now=clock())
        self._authorizer = Authorizer(ServiceAccountIdentities(settings.trust_domain), self._ledger)
        self._ttl = TtlPolicy(default=settings.workload_ttl, maximum=settings.max_workload_ttl)
        self._signer = Signer.of(self._material, clock())
        self._material_listeners: list[Callable[[], None]] = []

    @property
    def settings(self) -> CaSettings:
        return self._settings

    @property
    def layout(self) -> CaLayout:
        return self._layout

    @property
    def material(self) -> CaMaterial:
        return self._material

    def on_material_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every root rotation (what signs and what is trusted changed):
        the control plane's own TLS certificate and root file follow at once."""
        self._material_listeners.append(listener)

    # --- the CSR path

    def create_certificate(
        self, metadata: Metadata, csr_pem: str, validity_seconds: int
    ) -> tuple[str, ...]:
        """Istio's CreateCertificate: the chain (leaf first, trust bundle last) or a refusal
        (``RequestRefused``), logged with who asked for what."""
        caller: CallerIdentity | None = None
        requested: SpiffeId | None = None
        monitoring.CSR_COUNT.inc()
        try:
            caller = self._authenticator.authenticate(metadata)
            request = parse_csr(csr_pem)
            requested = request.identity
            self._authorizer.authorize(caller, requested)
        except RequestRefused as exc:
            log.warning(
                "CSR refused: caller %s, requested %s: %s",
                caller or "<unauthenticated>",
                requested or "<unknown>",
                exc,
            )
            raise
        now = self._clock()
        svid = sign_svid(request, self._signer_at(now), self._ttl.lifetime(validity_seconds), now)
        self._record(svid, caller)
        monitoring.CERT_ISSUANCE.inc()
        return svid.chain

    def _signer_at(self, now: datetime) -> Signer:
        # Checked on each request rather than on a timer: a CA nobody asks needs no new root.
        if root_due_for_rotation(self._material, now, self._settings.root_grace_ratio):
            remaining = self._material.certificate.not_valid_after_utc - now
            log.warning("the self-signed root expires in %s: rotating it", remaining)
            self.rotate_root(overlap=remaining)
        if not self._signer.current_at(self._material, now):
            self._signer = Signer.of(self._material, now)
        return self._signer

    def _record(self, svid: IssuedSvid, caller: CallerIdentity) -> None:
        cert = svid.certificate
        self._ledger.record(
            IssuedRecord(
                serial=svid.serial_hex,
                workload=svid.identity.workload,
                spiffe_id=str(svid.identity),
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                pod=caller.pod,
            )
        )
        log.info(
            "issued %s serial %s to %s until %s",
            svid.identity,
            svid.serial_hex,
            caller,
            cert.not_valid_after_utc.isoformat(),
        )

    # --- roots, rotation, revocation

    def roots(self) -> tuple[x509.Certificate, ...]:
        """The trust bundle now: every root a peer should accept."""
        return self._material.bundle(self._clock())

    def roots_pem(self) -> str:
        return self._material.bundle_pem(self._clock())

    def rotate_root(self, overlap: timedelta | None = None) -> x509.Certificate:
        self._material = rotate_root(
            self._layout,
            self._material,
            trust_domain=self._settings.trust_domain,
            root_ttl=self._settings.root_ttl,
            overlap=self._settings.root_overlap if overlap is None else overlap,
            now=self._clock(),
        )
        log.warning("root rotated: new root serial %x", self._material.certificate.serial_number)
        for listener in self._material_listeners:
            listener()
        return self._material.certificate

    def revoke(self, namespace: str, service_account: str) -> Revocation:
        revocation = self._ledger.revoke(f"{namespace}/{service_account}", self._clock())
        log.warning(
            "revoked %s: no new certificates; issued serials still valid: %s",
            revocation.workload,
            ", ".join(revocation.serials) or "none",
        )
        return revocation

    def revocations(self) -> tuple[Revocation, ...]:
        return self._ledger.revoked()

    def issued(self, *, unexpired: bool = True) -> tuple[IssuedRecord, ...]:
        return self._ledger.issued(self._clock() if unexpired else None)
