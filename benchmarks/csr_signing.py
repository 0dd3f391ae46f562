"""CSR signing: how many SVIDs the mesh CA issues per second on one core, and how long a burst
of 200 concurrent ``CreateCertificate`` calls takes over gRPC.

(a) ``sign``: interleaved rounds, one core (the process is pinned to one CPU), P-256:
    - baseline: a bare ``cryptography`` ``CertificateBuilder`` sign loop (subject, issuer, key,
      serial, validity, one URI SAN; ECDSA P-256 / SHA-256): the floor of signing in Python;
    - issuer: ``issuer.parse_csr`` + ``issuer.sign_svid`` (CSR parse and proof-of-possession
      check, key type and SAN rules, the full SVID extension set, the chain);
    - CA, token cached: ``CertificateAuthority.create_certificate`` in process (authenticate,
      authorize, sign, append to the issued log), the same pod token each time (a renewal);
    - CA, new token: the same with a fresh pod token every call (a pod's first request: ES256
      verification included).
    Each path signs a fresh CSR per call (CSRs are made before timing).
(b) ``burst``: the CA in a child process (pinned to one CPU) serving Istio's CSR API on
    grpc.aio, as the control plane does; the parent fires 200 ``request_certificate`` calls at
    once (200 distinct service accounts, fresh tokens each round) and times until all are
    issued. Baseline: the same 200 requests through the in-process CA (no gRPC).

Target (issue 4): >= 2,000 certs/s for the CA's in-process path on one core.

Run: ``.venv/bin/python benchmarks/csr_signing.py [all|sign|burst] [--rounds 7 --count 400]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from mainsail.ca.client import request_certificate
from mainsail.ca.csr import new_workload_csr
from mainsail.ca.issuer import Signer, parse_csr, sign_svid
from mainsail.ca.server import add_to_server
from mainsail.ca.service import CertificateAuthority
from mainsail.ca.settings import CaSettings
from mainsail.ca.tokens import mint_pod_token
from mainsail.naming import build_spiffe_id

TARGET_PER_SECOND = 2000
BURST = 200


def pin_to_one_cpu() -> int:
    cpu = sorted(os.sched_getaffinity(0))[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def rate(count: int, action: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - start)


def sign_benchmark(rounds: int, count: int, workdir: Path) -> None:
    cpu = pin_to_one_cpu()
    ca = CertificateAuthority(CaSettings(state_dir=workdir / "sign-ca"))
    spiffe = build_spiffe_id("cluster.local", "default", "sleep")
    csrs = [new_workload_csr(spiffe).csr_pem for _ in range(count)]
    parsed = [parse_csr(c) for c in csrs]
    public_keys = [p.csr.public_key() for p in parsed]
    key = ca.material.key
    issuer_name = ca.material.certificate.subject
    token = mint_pod_token(ca.layout.token_signing_key, "default", "sleep", "sleep-1", 3600)
    metadata = (("authorization", f"Bearer {token}"),)
    now = datetime.now(UTC)
    signer = Signer.of(ca.material, now)

    def baseline(i: int) -> None:
        public = public_keys[i]
        assert isinstance(public, ec.EllipticCurvePublicKey)
        (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )

    def issuer(i: int) -> None:
        sign_svid(parse_csr(csrs[i]), signer, timedelta(hours=1), now)

    def ca_cached(i: int) -> None:
        ca.create_certificate(metadata, csrs[i], 0)

    def ca_new_token(i: int) -> None:
        fresh = fresh_tokens[i]
        ca.create_certificate((("authorization", f"Bearer {fresh}"),), csrs[i], 0)

    paths: dict[str, Callable[[int], None]] = {
        "baseline (bare CertificateBuilder)": baseline,
        "issuer (parse_csr + sign_svid)": issuer,
        "CA, token cached": ca_cached,
        "CA, new token each call": ca_new_token,
    }
    results: dict[str, list[float]] = {name: [] for name in paths}
    ratios: dict[str, list[float]] = {name: [] for name in paths}
    load = os.getloadavg()[0]
    print(
        f"sign: {rounds} rounds x {count} certificates, pinned to CPU {cpu}, P-256/SHA-256 "
        f"(load average {load:.1f} on {os.cpu_count()} CPUs: absolute figures scale with it)"
    )
    for _ in range(rounds):
        fresh_tokens = [
            mint_pod_token(ca.layout.token_signing_key, "default", "sleep", f"sleep-{i}", 3600,
                           issued_at=time.time() + i * 1e-3)
            for i in range(count)
        ]  # fmt: skip
        measured = {name: rate(count, action) for name, action in paths.items()}
        base = measured["baseline (bare CertificateBuilder)"]
        for name, value in measured.items():
            results[name].append(value)
            ratios[name].append(value / base)
    for name in paths:
        print(
            f"  {name:38s} median {statistics.median(results[name]):7.0f} certs/s"
            f"   ratio to baseline {statistics.median(ratios[name]):.2f}"
        )
    best = statistics.median(results["CA, token cached"])
    verdict = "meets" if best >= TARGET_PER_SECOND else "MISSES"
    print(
        f"  CA in-process (token cached) {best:.0f} certs/s {verdict} the target {TARGET_PER_SECOND}"
    )


def serve(state_dir: Path, port_file: Path) -> None:
    """The CA alone on grpc.aio (the child process of ``burst``)."""
    pin_to_one_cpu()

    async def run() -> None:
        ca = CertificateAuthority(CaSettings(state_dir=state_dir))
        server = grpc.aio.server()
        add_to_server(ca, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        port_file.write_text(str(port))
        await server.wait_for_termination()

    asyncio.run(run())


async def burst_round(
    target: str, requests: Sequence[tuple[str, str]]
) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def one(csr: str, token: str) -> None:
        start = time.perf_counter()
        await request_certificate(target, csr, 0, token, timeout=60)
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(one(csr, token) for csr, token in requests))
    return time.perf_counter() - start, latencies


def burst_requests(key_path: Path, round_number: int) -> list[tuple[str, str]]:
    requests = []
    for i in range(BURST):
        account = f"sa-{i}"
        token = mint_pod_token(key_path, "burst", account, f"pod-{round_number}-{i}", 3600)
        csr = new_workload_csr(build_spiffe_id("cluster.local", "burst", account)).csr_pem
        requests.append((csr, token))
    return requests


def burst_benchmark(rounds: int, workdir: Path) -> None:
    state_dir, port_file = workdir / "burst-ca", workdir / "burst-port"
    child = subprocess.Popen(
        [sys.executable, __file__, "serve", str(state_dir), str(port_file)],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the CA child process did not start")
            time.sleep(0.05)  # polling a file another process writes; no event to wait on
        target = f"127.0.0.1:{port_file.read_text()}"
        key_path = state_dir / "token-signing-key.pem"
        local = CertificateAuthority(CaSettings(state_dir=workdir / "burst-local"))
        totals, inprocess, p50s, p99s = [], [], [], []
        print(f"burst: {rounds} rounds of {BURST} concurrent CreateCertificate calls over gRPC")
        for round_number in range(rounds):
            requests = burst_requests(key_path, round_number)
            total, latencies = asyncio.run(burst_round(target, requests))
            latencies.sort()
            totals.append(total)
            p50s.append(latencies[len(latencies) // 2])
            p99s.append(latencies[int(len(latencies) * 0.99) - 1])
            local_requests = burst_requests(local.layout.token_signing_key, round_number)
            start = time.perf_counter()
            for csr, token in local_requests:
                local.create_certificate((("authorization", f"Bearer {token}"),), csr, 0)
            inprocess.append(time.perf_counter() - start)
        total = statistics.median(totals)
        base = statistics.median(inprocess)
        print(
            f"  all {BURST} issued over gRPC: median {total * 1000:.0f} ms ({BURST / total:.0f} certs/s)"
        )
        print(
            f"  per call: median p50 {statistics.median(p50s) * 1000:.0f} ms, p99 {statistics.median(p99s) * 1000:.0f} ms"
        )
        print(f"  baseline, in-process CA, same {BURST} requests: {base * 1000:.0f} ms")
        print(
            f"  ratio gRPC burst / in-process: {statistics.median(t / b for t, b in zip(totals, inprocess, strict=True)):.2f}"
        )
    finally:
        child.terminate()
        child.wait(10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", default="all", choices=("all", "sign", "burst", "serve"))
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=400)
    args = parser.parse_args(argv)
    if args.what == "serve":
        serve(Path(args.args[0]), Path(args.args[1]))
        return
    with tempfile.TemporaryDirectory(prefix="csr-signing-") as tmp:
        workdir = Path(tmp)
        if args.what in ("all", "burst"):
            # Before pinning: the burst's client runs in this process, the CA in the child.
            burst_benchmark(max(3, args.rounds // 2), workdir)
        if args.what in ("all", "sign"):
            sign_benchmark(args.rounds, args.count, workdir)


if __name__ == "__main__":
    main()
