"""The ``gb`` command: version, token, configuration errors, serve with the embedded defaults."""

import asyncio
import os
import re
import signal
import stat
import subprocess
import sys

import httpx

from gb.client import connect
from gb.core.auth import Authenticator
from gb.core.cli import DEV_SECRET_FILE, dev_settings, main
from gb.core.config import load_settings

from ..conftest import SECRET
from ..support.pg import two_shards

__all__ = ["two_shards"]  # a fixture, used by name


def test_version(capsys):
    assert main(["version"]) == 0
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", capsys.readouterr().out)


def test_token_uses_the_configured_secret(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GB_JWT_SECRET", SECRET)
    monkeypatch.setenv("GB_DATA_DIR", str(tmp_path))
    argv = ["token", "--user", "u", "--customer", "c", "--roles", "a,b", "--shard", "3"]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    identity = Authenticator(load_settings({"GB_JWT_SECRET": SECRET})).verify(token)
    assert (identity.user, identity.customer, identity.instance) == ("u", "c", "default")
    assert identity.roles == frozenset({"a", "b"}) and identity.shard_key == 3
    assert not (tmp_path / DEV_SECRET_FILE).exists()


def test_without_a_key_a_dev_secret_is_made_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.delenv("GB_JWT_SECRET", raising=False)
    settings = load_settings({"GB_DATA_DIR": str(tmp_path / "data")})
    first = dev_settings(settings)
    path = tmp_path / "data" / DEV_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_settings(settings).jwt_secret == first.jwt_secret and first.jwt_secret


def test_configuration_errors_name_the_setting(capsys, monkeypatch):
    monkeypatch.setenv("GB_WS_PORT", "not-a-port")
    assert main(["serve"]) == 2
    assert "GB_WS_PORT" in capsys.readouterr().err


def test_flags_override_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("GB_WS_PORT", "1")
    assert main(["serve", "--ws-port", "70000"]) == 2
    assert "70000" in capsys.readouterr().err


async def test_serve_with_embedded_defaults_prints_addresses_and_a_dev_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GB_")}
    env.update({"GB_WS_PORT": "0", "GB_HTTP_PORT": "0", "GB_DATA_DIR": str(tmp_path)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gb", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = "".join(proc.stdout.readline() for _ in range(4))
        ws = re.search(r"ws://\S+/ws", banner).group(0)
        http = re.search(r"http://\S+", banner).group(0)
        token = re.search(r"dev token  (\S+)", banner).group(1)
        async with httpx.AsyncClient() as api, asyncio.timeout(20):
            while True:
                try:
                    if (await api.get(f"{http}/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        client = await connect(ws, token)
        assert client.welcome["user"] == "dev"
        assert client.welcome["roles"] == ["customer_admin", "platform_admin"]
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_token_needs_the_hs256_secret(capsys, monkeypatch, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    monkeypatch.delenv("GB_JWT_SECRET", raising=False)
    monkeypatch.setenv("GB_JWT_PUBLIC_KEY", pem.decode())
    monkeypatch.setenv("GB_DATA_DIR", str(tmp_path))
    assert main(["token", "--user", "u"]) == 2
    assert "GB_JWT_SECRET" in capsys.readouterr().err


# --- storage commands -----------------------------------------------------------------------


def storage_env(monkeypatch, tmp_path, dsn: str) -> None:
    monkeypatch.setenv("GB_JWT_SECRET", SECRET)
    monkeypatch.setenv("GB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GB_DATABASE_URL", dsn)


async def _tenant(dsn: str) -> str:
    from gb.core.storage.database import Database

    from ..support.tenants import make_tenant

    db = await Database.open(dsn, pool_size=1)
    try:
        customer, _ = await make_tenant(db)
    finally:
        await db.close()
    return str(customer)


def test_migrate_shard_add_list_and_tenant_move(capsys, monkeypatch, tmp_path, two_shards):
    import uvloop

    control, shard1, _ = two_shards
    storage_env(monkeypatch, tmp_path, control)
    assert main(["migrate"]) == 0
    assert "control: up to date" in capsys.readouterr().out
    assert main(["shard", "add", "s1", shard1]) == 0
    assert "shard 1 s1 added" in capsys.readouterr().out
    assert main(["shard", "add", "s1", shard1]) == 2  # the name is taken
    assert "s1" in capsys.readouterr().err
    assert main(["shard", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["0", "control"], ["1", "s1"]]
    customer = uvloop.run(_tenant(control))
    assert main(["tenant", "move", customer, "--to", "1"]) == 0
    assert "to_shard=1" in capsys.readouterr().out
    assert main(["tenant", "move", "no-such-customer", "--to", "1"]) == 2
    assert "no-such-customer" in capsys.readouterr().err


def test_billing_invoice_rolls_the_month_up_and_prices_it(
    capsys, monkeypatch, tmp_path, two_shards
):
    import datetime

    import uvloop

    control, _, _ = two_shards
    storage_env(monkeypatch, tmp_path, control)
    customer = uvloop.run(_tenant(control))
    month = datetime.date.today().strftime("%Y-%m")
    assert main(["billing", "invoice", customer, "--month", month]) == 0
    assert capsys.readouterr().out.startswith("invoice ")
    assert main(["billing", "invoice", customer, "--month", "2026-13"]) == 2
    assert "month must be in 1..12" in capsys.readouterr().err
    assert main(["billing", "invoice", "not-a-uuid", "--month", month]) == 2
