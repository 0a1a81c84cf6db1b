"""Storage benchmark: API uploads vs raw boto3 put_object, the server's RSS growth, and presign cost.

Run: .venv/bin/python -m bench.storage_upload [--runs 7] [--presign-iterations 2000] [--check]

It starts its own LocalStack S3 and PostgreSQL (harness/), migrates, serves the project with gunicorn
(one sync worker, as deployed), and measures against that real server process:

- upload of 10 MB and 50 MB through POST /api/files/upload vs boto3 put_object of the same bytes to the
  same bucket (median of --runs, ratio of medians);
- the worker's peak RSS growth while it takes a 50 MB upload (VmHWM after resetting it, minus VmRSS before);
- storage.services.file_signed_url vs boto3 generate_presigned_url (median per call, in this process),
  and POST /api/files/presigned-url over HTTP.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from bench import _common as common

MB = 1024 * 1024
BOUNDARY = "bench-storage-boundary"
TARGETS = {"upload_ratio": 1.5, "upload_10mb_ms": 250.0, "rss_growth_50mb_mb": 16.0, "presign_ms": 3.0}


def upload_environment(servers: list[Any]) -> dict[str, str]:
    """The project's settings for gunicorn and this process: the harness servers, no upload throttle."""
    return {
        **os.environ,
        **common.BASE_ENVIRONMENT,
        **common.server_environment(servers),
        "THROTTLE_UPLOADS_RATE": "100000/hour",  # the bench uploads more files than a person would
    }


def worker_pid(master_pid: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise SystemExit("bench: gunicorn started no worker")


def proc_status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakRss:
    """Peak RSS of a process over a block: the kernel's high-water mark, reset first; a sampler if it can't be."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.method = "VmHWM"
        self._stop = threading.Event()
        self._samples: list[int] = []

    def __enter__(self) -> PeakRss:
        self.before_kb = proc_status_kb(self.pid, "VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            if proc_status_kb(self.pid, "VmHWM") > self.before_kb + 1024:
                raise OSError("VmHWM was not reset")
        except OSError:
            self.method = "sampled every 2 ms"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._samples.append(proc_status_kb(self.pid, "VmRSS"))
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self.method == "VmHWM":
            self.peak_kb = proc_status_kb(self.pid, "VmHWM")
        else:
            self._stop.set()
            self._thread.join()
            self.peak_kb = max([*self._samples, proc_status_kb(self.pid, "VmRSS")])

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.before_kb) / 1024


def payload(size: int) -> bytes:
    """A PDF of `size` bytes: a real header, then incompressible bytes."""
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return head + os.urandom(size - len(head))


def multipart(content: bytes, name: str) -> bytes:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def median_ms(function: Callable[[], Any], runs: int) -> float:
    return statistics.median(common.timed(function)[0] for _ in range(runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_upload", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="uploads per size and method (median taken)")
    parser.add_argument("--presign-iterations", type=int, default=2000)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    import requests

    print("starting PostgreSQL and LocalStack S3 ...", flush=True)
    servers = common.start_servers(postgres=True, s3=True)
    s3 = servers[1]
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        environment = upload_environment(servers)
        common.migrate(environment)
        gunicorn, base = common.gunicorn_start(
            application="billing_site.wsgi:application", environment=environment, extra=["--timeout=120"]
        )
        worker = worker_pid(gunicorn.pid)

        username = f"bench-{uuid.uuid4().hex[:8]}"
        registered = requests.post(
            f"{base}/api/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": "Bench-pw-0123456789"},
            timeout=30,
        )
        registered.raise_for_status()
        headers = {"Authorization": f"Bearer {registered.json()['tokens']['access']}"}
        upload_headers = {**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=s3.url,
            aws_access_key_id=s3.access_key_id,
            aws_secret_access_key=s3.secret_access_key,
            region_name=s3.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

        def api_upload(body: bytes) -> dict[str, Any]:
            response = requests.post(f"{base}/api/files/upload", data=body, headers=upload_headers, timeout=120)
            if response.status_code != 201:
                raise SystemExit(f"bench: upload answered {response.status_code}: {response.text[:300]}")
            return response.json()

        def raw_put(content: bytes) -> str:
            key = f"bench/{uuid.uuid4()}.pdf"
            client.put_object(Bucket=s3.bucket, Key=key, Body=content, ContentType="application/pdf")
            return key

        # Warm both paths (imports, connections, LocalStack's first-request work).
        warm = payload(1 * MB)
        api_upload(multipart(warm, "warm.pdf"))
        raw_put(warm)

        results: dict[str, Any] = {"runs": args.runs}
        # Memory first, while the worker has only seen the 1 MB warm-up: later uploads would already have
        # grown its heap, hiding what a 50 MB upload costs.
        body = multipart(payload(50 * MB), "rss-50mb.pdf")
        with PeakRss(worker) as rss:
            api_upload(body)
        del body
        results["rss_growth_50mb"] = {
            "mb": round(rss.growth_mb, 1),
            "before_mb": round(rss.before_kb / 1024, 1),
            "peak_mb": round(rss.peak_kb / 1024, 1),
            "method": rss.method,
        }
        for size_mb in (10, 50):
            content = payload(size_mb * MB)
            body = multipart(content, f"bench-{size_mb}mb.pdf")
            api: list[float] = []
            raw: list[float] = []
            for _ in range(args.runs):  # interleaved, so a noisy neighbour slows both sides alike
                elapsed, uploaded = common.timed(functools.partial(api_upload, body))
                api.append(elapsed)
                elapsed, key = common.timed(functools.partial(raw_put, content))
                raw.append(elapsed)
                # Untimed: keep LocalStack's store (and its disk writes) the same size for every run.
                requests.delete(f"{base}/api/files/{uploaded['id']}", headers=headers, timeout=30).raise_for_status()
                client.delete_object(Bucket=s3.bucket, Key=key)
            results[f"upload_{size_mb}mb"] = {
                "api_ms": round(statistics.median(api), 1),
                "raw_put_object_ms": round(statistics.median(raw), 1),
                "ratio": round(statistics.median(api) / statistics.median(raw), 2),
            }

        uploaded = api_upload(multipart(payload(1 * MB), "청구서 2024년 11월.pdf"))
        http_presign = median_ms(
            lambda: requests.post(
                f"{base}/api/files/presigned-url",
                json={"file_id": uploaded["id"], "expires_in_hours": 24},
                headers=headers,
                timeout=30,
            ).raise_for_status(),
            51,
        )
        results["presign"] = presign_in_process(environment, uploaded, client, s3.bucket, args.presign_iterations)
        results["presign"]["endpoint_http_ms"] = round(http_presign, 2)
    finally:
        common.gunicorn_stop(gunicorn)
        for server in servers:
            server.close()

    ok = report(results)
    common.results_write("storage_upload", results, ensure_ascii=False)
    return 0 if ok or not args.check else 1


def presign_in_process(
    environment: dict[str, str], uploaded: dict[str, Any], client: Any, bucket: str, iterations: int
):
    """file_signed_url vs boto3's own presign, per call, in this process (no network: presigning is local)."""
    import datetime

    os.environ.update(environment)
    import django

    django.setup()
    from django.core.files.storage import default_storage

    from storage.models import StoredFile
    from storage.services import file_signed_url

    file = StoredFile.objects.get(pk=uploaded["id"])
    expires_in = datetime.timedelta(hours=24)
    key = cast(Any, default_storage)._normalize_name(file.key)  # the S3 backend's own key rule
    file_signed_url(file=file, expires_in=expires_in)
    client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=86400)

    ours = median_ms(lambda: file_signed_url(file=file, expires_in=expires_in), iterations)
    raw = median_ms(
        lambda: client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=86400),
        iterations,
    )
    return {"file_signed_url_ms": round(ours, 3), "raw_presign_ms": round(raw, 3), "ratio": round(ours / raw, 2)}


def report(results: dict[str, Any]) -> bool:
    ten, fifty = results["upload_10mb"], results["upload_50mb"]
    rss, presign = results["rss_growth_50mb"], results["presign"]
    checks = {
        "upload_10mb_ratio": ten["ratio"] <= TARGETS["upload_ratio"],
        "upload_50mb_ratio": fifty["ratio"] <= TARGETS["upload_ratio"],
        "upload_10mb_ms": ten["api_ms"] <= TARGETS["upload_10mb_ms"],
        "rss_growth": rss["mb"] <= TARGETS["rss_growth_50mb_mb"],
        "presign": presign["file_signed_url_ms"] <= TARGETS["presign_ms"],
    }
    print()
    print(f"storage benchmark (median of {results['runs']} runs; targets in brackets)")
    for size, row in ((10, ten), (50, fifty)):
        print(
            f"  upload {size} MB: API {row['api_ms']:.1f} ms, raw put_object {row['raw_put_object_ms']:.1f} ms, "
            f"ratio {row['ratio']:.2f} [<= 1.5] {common.verdict(checks[f'upload_{size}mb_ratio'])}"
        )
    print(f"  10 MB API upload {ten['api_ms']:.1f} ms [<= 250 ms] {common.verdict(checks['upload_10mb_ms'])}")
    print(
        f"  worker peak RSS growth during a 50 MB upload: {rss['mb']:.1f} MB ({rss['method']}) "
        f"[<= 16 MB] {common.verdict(checks['rss_growth'])}"
    )
    print(
        f"  presign: file_signed_url {presign['file_signed_url_ms']:.3f} ms, "
        f"raw boto3 {presign['raw_presign_ms']:.3f} ms, "
        f"ratio {presign['ratio']:.2f} [<= 3 ms] {common.verdict(checks['presign'])}; "
        f"POST /api/files/presigned-url over HTTP {presign['endpoint_http_ms']:.2f} ms"
    )
    return all(checks.values())


if __name__ == "__main__":
    raise SystemExit(main())
