"""``vanguard automation pause|resume|status``: the kill switch, from a terminal.

A pause stops every action on one service (``--service``) or on all, for a while (``--for
2h``) or until resumed. Detection and diagnosis go on and every incident is recorded, but
the pause gate declines it, no approval lifts that, and an action approved before the pause
is not applied. Pausing and resuming are written to the audit trail with who and why.
Pausing a service (or all) that is already paused extends that pause rather than adding one.
Every command reads the time from the store, not from the machine it runs on: a pause for
2h lasts two hours from when it is written even from a laptop whose clock is off.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from vanguard.cli.apps import automation_app
from vanguard.cli.core import (
    ByOpt,
    ConfigOpt,
    StoreOpt,
    console,
    login_name,
    open_configured_store,
)
from vanguard.config import load_settings
from vanguard.errors import ConfigError, InputError
from vanguard.model import Pause
from vanguard.redact import redact_text
from vanguard.store import PauseRepo

__all__ = ["parse_duration", "pause", "resume", "status"]

ServiceOpt = Annotated[str | None, typer.Option(help="one service; without it, every service")]
_PART = re.compile(r"(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_PAUSE = timedelta(days=30)


def parse_duration(
    text: str,
    *,
    option: str = "--for",
    maximum: timedelta = MAX_PAUSE,
    hint: str = " (resume sooner by hand)",
) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``: from 1 s to ``maximum``."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise InputError(f"{option} {text!r}: a duration like 30m, 2h, 1d or 1h30m")
    length = timedelta(seconds=sum(int(n) * _UNIT_S[u] for n, u in parts))
    if not timedelta(0) < length <= maximum:
        days = f"{maximum.days} day{'s' if maximum.days != 1 else ''}"
        raise InputError(f"{option} {text!r}: between 1 s and {days}{hint}")
    return length


@automation_app.command("pause")
def pause(
    reason: Annotated[str, typer.Option(help="why: shown on every declined incident")],
    service: ServiceOpt = None,
    for_: Annotated[
        str | None,
        typer.Option(
            "--for", help="how long, e.g. 2h, by the store's clock (default: until resumed)"
        ),
    ] = None,
    by: ByOpt = None,
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
) -> None:
    """Stop Vanguard acting on one service or all; incidents are still recorded.

    Pausing a scope already paused extends that pause: the new reason, the later end.
    """
    if not reason.strip():
        raise InputError("--reason: say why, for whoever finds the pause")
    length = parse_duration(for_) if for_ is not None else None
    if service is not None:
        _warn_if_unknown(service, config)
    the_store = open_configured_store(config, store, create=True)
    try:
        with the_store.session() as session:
            repo = PauseRepo(session)
            now = repo.now()
            earlier = repo.in_force(service, now)
            made = repo.pause(
                service=service,
                reason=reason.strip(),
                by=login_name(by),
                now=now,
                until=now + length if length is not None else None,
            )
    finally:
        the_store.close()
    console.print(_pause_message(earlier, made, for_), highlight=False)
    scope = f" --service {service}" if service else ""
    where = f" --store {redact_text(store)}" if store else ""
    if not store and config != Path("vanguard.yaml"):
        where = f" -c {config}"
    console.print(f"resume with: vanguard automation resume{scope}{where}", highlight=False)


def _pause_message(earlier: Pause | None, made: Pause, for_: str | None) -> str:
    """What a pause did, in one line: began, or took over the pause in force, extending it
    only when it asked for a later end (pausing again never shortens a pause)."""
    if earlier is None:
        return made.describe()
    if made.until != earlier.until:
        return f"already paused; the pause is extended: {made.describe()}"
    if for_ is None:
        return f"already paused until resumed; the pause takes the new reason: {made.describe()}"
    return (
        f"already paused, and the pause lasts longer than --for {for_}: it keeps its end "
        "(pausing again never shortens a pause; resume ends it) and takes the new reason: "
        f"{made.describe()}"
    )


def _warn_if_unknown(service: str, config: Path) -> None:
    """A pause on a name nothing uses stops nothing: say so (it still goes ahead, since
    Alertmanager's labels and CI repositories name services the file need not list)."""
    if not config.is_file():
        return
    try:
        settings = load_settings(config)
    except (ConfigError, OSError) as exc:
        console.print(
            f"warning: could not read {config} to check the name ({exc}); pausing anyway",
            highlight=False,
            markup=False,
        )
        return
    known = [s.name for s in settings.services]
    if settings.github is not None:
        known += list(settings.github.repositories)
    if service in known:
        return
    listed = ", ".join(known) if known else "none"
    console.print(
        f"warning: {config} names no service {service!r} (known: {listed}); pausing it "
        "anyway, which stops only alerts that name it (Alertmanager labels, CI repositories)",
        highlight=False,
    )


@automation_app.command("resume")
def resume(
    service: ServiceOpt = None,
    by: ByOpt = None,
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
) -> None:
    """End the pause on one service (or, without --service, the pause on all)."""
    the_store = open_configured_store(config, store, create=True)
    try:
        with the_store.session() as session:
            repo = PauseRepo(session)
            now = repo.now()
            ended = repo.resume(service=service, by=login_name(by), now=now)
            left = repo.active(now)
    finally:
        the_store.close()
    scope = f"service {service}" if service else "every service"
    if not ended:
        where = f"service {service}" if service else "any service"
        console.print(f"no pause was in force on {where}", highlight=False)
    else:
        console.print(f"resumed automation on {scope} ({len(ended)} pause(s))", highlight=False)
    for still in left:
        console.print(f"still in force: {still.describe()}", highlight=False)


@automation_app.command("status")
def status(config: ConfigOpt = Path("vanguard.yaml"), store: StoreOpt = None) -> None:
    """The pauses in force now; exit 0 either way."""
    the_store = open_configured_store(config, store, create=False)
    try:
        with the_store.read_session() as session:
            repo = PauseRepo(session)
            active = repo.active(repo.now())
    finally:
        the_store.close()
    if not active:
        console.print("automation is running: no pause in force", highlight=False)
    for item in active:
        console.print(item.describe(), highlight=False)
