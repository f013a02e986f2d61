"""The reconcile contract, by property (issue 17), against real `mlflow server`s.

Hypothesis draws a story: revisions of `aliases.yaml` (promotions, new and removed
aliases, models added to and dropped from the file) and, before each, hand edits made
with MLflow's own client (managed aliases moved or deleted, foreign aliases set, moved
or deleted on managed and unmanaged models). Each revision is applied with the CLI
through a proxy that fails a share of the writes (and, for some revisions, refuses the
first run's alias sets so that it stops part way), re-run until it exits 0 within
`MAX_RUNS`. No run may leave an alias at a third value (neither before nor wanted), and
a failed run must say why, as an expected error (no traceback). Once converged, the
registry holds exactly what a small pure oracle of the README's rules expects, each
model's record lists exactly its declared aliases, the lock is released, and
`plan --detailed-exitcode` exits 0.

The oracle (README, "Ownership" and "Drift"): a managed alias is one the file declares;
moved or deleted by hand, the next apply puts it back; removed from the file (or its
model dropped), it is deleted. Any other alias is foreign and never touched, until the
file declares its name on its model: declaring an alias that exists adopts it, and from
then on it is managed like the rest.

`ALIASCTL_PROPERTY_EXAMPLES` raises the number of stories (default 6) for a long run;
`--hypothesis-show-statistics` says which of the cases above the stories met.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from controller.core.state import Record
from tests.conftest import client_for, invoke, seed, write_spec
from tests.support.fault_proxy import FaultProxy

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tests.support.mlflow_server import MlflowServer

MODELS = ("m0", "m1", "m2")
VERSIONS = 3  # per model
DECLARABLE = ("champion", "challenger", "canary")
# Hand edits use the file's names too (so foreign aliases collide with later revisions)
# and one name no revision declares, which stays foreign for good.
HAND_NAMES = (*DECLARABLE, "staging")
FAULT_RATE = 0.2  # of writes: half answered 503 unforwarded, half forwarded then cut
MAX_RUNS = 3  # applies per revision before it must have converged
ALIAS_SETS = ("POST", "registered-models/alias")  # the proxy's key for alias sets
EXAMPLES = int(os.environ.get("ALIASCTL_PROPERTY_EXAMPLES", "6"))

Aliases = dict[str, int]
File = dict[str, Aliases]
Observed = dict[str, tuple[Aliases, Record | None]]  # per model: live aliases, its record


@dataclass(frozen=True)
class HandSet:
    """`set_registered_model_alias` by hand: a move, or a new alias."""

    model: str
    alias: str
    version: int


@dataclass(frozen=True)
class HandDelete:
    """`delete_registered_model_alias` by hand (left out when the alias is absent)."""

    model: str
    alias: str


HandEdit = HandSet | HandDelete


@dataclass(frozen=True)
class Step:
    """Hand edits on the registry, then a revision of the file, applied.

    With `cut_short`, the first apply meets a registry refusing every alias set (403, as
    to a bot without EDIT; never retried): deletes go through, the breaker stops the rest,
    the records stay pending, and the run exits 1 part way.
    """

    hand: tuple[HandEdit, ...]
    file: File
    cut_short: bool


@dataclass
class Oracle:
    """What the registry must hold after each converged apply, from the README's rules."""

    file: File = field(default_factory=dict)  # the revision last applied
    foreign: dict[str, Aliases] = field(default_factory=lambda: {m: {} for m in MODELS})

    def managed(self, model: str, alias: str) -> bool:
        return alias in self.file.get(model, {})

    def expected(self, model: str) -> Aliases:
        return {**self.foreign[model], **self.file.get(model, {})}

    def hand(self, edit: HandEdit) -> str | None:
        """Note a hand edit and say what it is; None for a no-op (deleting what is not there)."""
        model, alias = edit.model, edit.alias
        if isinstance(edit, HandDelete) and alias not in self.expected(model):
            return None
        if self.managed(model, alias):  # drift: healed next, or deleted if the file drops it
            return f"managed alias {'moved' if isinstance(edit, HandSet) else 'deleted'} by hand"
        kind = "set" if alias not in self.foreign[model] else "moved"
        if isinstance(edit, HandSet):
            self.foreign[model][alias] = edit.version
        else:
            del self.foreign[model][alias]
            kind = "deleted"
        where = "a managed" if model in self.file else "an unmanaged"
        return f"foreign alias {kind} by hand on {where} model"

    def revise(self, file: File) -> int:
        """Take the next revision; how many foreign aliases it adopts by declaring them."""
        adopted = 0
        for model, aliases in file.items():
            for alias in aliases:
                adopted += self.foreign[model].pop(alias, None) is not None
        self.file = file
        return adopted


def _hand_edit() -> st.SearchStrategy[HandEdit]:
    model, alias = st.sampled_from(MODELS), st.sampled_from(HAND_NAMES)
    return st.one_of(
        st.builds(HandSet, model, alias, st.integers(1, VERSIONS)),
        st.builds(HandDelete, model, alias),
    )


_revision: st.SearchStrategy[File] = st.dictionaries(
    st.sampled_from(MODELS),
    st.dictionaries(st.sampled_from(DECLARABLE), st.integers(1, VERSIONS), max_size=3),
    max_size=len(MODELS),
)
_step = st.builds(
    Step,
    st.lists(_hand_edit(), max_size=3).map(tuple),
    _revision,
    st.integers(0, 3).map(lambda n: n == 3),
)
_story = st.lists(_step, min_size=2, max_size=4)  # a revision, then edits to heal or keep


@dataclass(frozen=True)
class Scene:
    """One story's world: its own models and instance on a shared server, the faulty proxy."""

    server: MlflowServer
    proxy: FaultProxy
    spec: Path
    prefix: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def name(self, model: str) -> str:
        return f"{self.prefix}-{model}"

    def fresh_http(self) -> None:
        """MLflow's own HTTP settings, as a new process has them: the in-process CLI leaves
        its --timeout budget in os.environ (see `mlflow_http_defaults` in conftest), which
        would bound a hand edit's requests, and the next CLI run's."""
        for name in ("TIMEOUT", "MAX_RETRIES", "BACKOFF_FACTOR"):
            self.monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{name}", raising=False)

    def hand(self, edit: HandEdit) -> None:
        self.fresh_http()
        client = client_for(self.server.uri)
        if isinstance(edit, HandSet):
            client.set_registered_model_alias(self.name(edit.model), edit.alias, str(edit.version))
        else:
            client.delete_registered_model_alias(self.name(edit.model), edit.alias)

    def cli(self, command: str, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()  # drop what set-up printed
        self.fresh_http()
        code, out, err = invoke(self.capsys, command, str(self.spec), "--registry-uri",
                                self.proxy.uri, *args)  # fmt: skip
        return code, out + err

    def observe(self) -> Observed:
        """Each model's live aliases and this instance's record, read past the proxy."""
        self.fresh_http()
        client = client_for(self.server.uri)
        found = {m: client.get_registered_model(self.name(m)) for m in MODELS}
        return {
            m: ({a: int(v) for a, v in got.aliases.items()}, Record.from_tags(got.tags))
            for m, got in found.items()
        }

    def live(self) -> dict[str, Aliases]:
        return {m: aliases for m, (aliases, _) in self.observe().items()}

    def lock_held(self) -> bool:
        self.fresh_http()
        query = f"name = 'aliasctl.lock.{self.prefix}'"
        return bool(client_for(self.server.uri).search_registered_models(query))


def _within(live: Mapping[str, int], before: Mapping[str, int], after: Mapping[str, int]) -> bool:
    """Every alias at its value before the apply or the one the apply wants, never a third."""
    return all(live.get(a) in {before.get(a), after.get(a)} for a in live.keys() | after.keys())


def _apply_until_converged(
    scene: Scene, oracle: Oracle, before: dict[str, Aliases], cut_short: bool
) -> Observed:
    """Apply until a run exits 0; what the registry holds after it."""
    runs = []
    for run in range(MAX_RUNS):
        # The flags a user needs for prunes (models and aliases leaving) and heals.
        flags = ["--allow-delete", "--drift", "heal"]
        if cut_short and run == 0:
            scene.proxy.refuse[ALIAS_SETS] = 403
        try:
            code, output = scene.cli("apply", *flags)
        finally:
            scene.proxy.refuse.pop(ALIAS_SETS, None)
        runs.append(f"exit {code}:\n{output}")
        event(
            f"apply run {run + 1}: exit {code}" + (" (cut short)" if cut_short and run == 0 else "")
        )
        assert code in {0, 1}, runs[-1]
        assert "Traceback" not in output, runs[-1]
        assert "rerun with --debug" not in output, runs[-1]  # an expected error, said cleanly
        if code == 1 and cut_short and run == 0:
            assert "permission denied" in output.lower(), runs[-1]
        observed = scene.observe()
        for model, (live, _) in observed.items():
            assert _within(live, before[model], oracle.expected(model)), (model, observed)
        if code == 0:
            return observed
    pytest.fail(f"no convergence in {MAX_RUNS} applies:\n" + "\n".join(runs))


def _check_converged(scene: Scene, oracle: Oracle, observed: Observed) -> None:
    live = {m: aliases for m, (aliases, _) in observed.items()}
    expected = {m: oracle.expected(m) for m in MODELS}
    assert live == expected, f"live aliases {live}, the oracle wants {expected}"
    for model, (_, record) in observed.items():
        if model not in oracle.file:
            assert record is None, (model, record)  # a model left out is released
        else:  # a declared model with no aliases may have no record at all
            owned = dict(record.aliases) if record else {}
            assert owned == oracle.file[model], (model, record)
            assert record is None or record.instance == scene.prefix
    assert not scene.lock_held()
    code, output = scene.cli("plan", "--detailed-exitcode")
    assert code == 0, output


def _play(scene: Scene, story: list[Step]) -> None:
    oracle = Oracle()
    scene.fresh_http()
    seed(scene.server.uri, dict.fromkeys(map(scene.name, MODELS), VERSIONS))
    for number, step in enumerate(story, 1):
        for edit in step.hand:
            if kind := oracle.hand(edit):
                event(kind)
                scene.hand(edit)
        before = scene.live()
        note(f"revision {number}: registry before apply {before}")
        write_spec(scene.spec, {scene.name(m): a for m, a in step.file.items()})
        if oracle.revise(step.file):
            event("a revision adopts a foreign alias")
        observed = _apply_until_converged(scene, oracle, before, step.cut_short)
        _check_converged(scene, oracle, observed)


STORIES = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# Found by this test: with nothing left to delete, a model leaving the file kept its
# record, and a later hand-set alias of a recorded name on it was deleted (see git log).
RELEASED_WITH_NOTHING_TO_DELETE = [
    Step((), {"m0": {"champion": 1}}, cut_short=False),
    Step((HandDelete("m0", "champion"),), {}, cut_short=False),
    Step((HandSet("m0", "champion", 2),), {}, cut_short=False),
]


def _run_story(
    server: MlflowServer,
    story: list[Step],
    fault_seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"  # models and instance of this story alone
    monkeypatch.setenv("ALIASCTL_INSTANCE", prefix)
    with FaultProxy(server.uri, fault_rate=FAULT_RATE, seed=fault_seed) as proxy:
        scene = Scene(server, proxy, tmp_path / f"{prefix}.yaml", prefix, monkeypatch, capsys)
        _play(scene, story)


@pytest.mark.server
@pytest.mark.xdist_group("server")
@STORIES
@given(story=_story, fault_seed=st.integers(0, 2**16))
@example(story=RELEASED_WITH_NOTHING_TO_DELETE, fault_seed=0)
def test_reconcile_contract_holds_on_the_shared_server(
    mlflow_server: MlflowServer,
    story: list[Step],
    fault_seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _run_story(mlflow_server, story, fault_seed, tmp_path, monkeypatch, capsys)


@pytest.mark.server  # the server's xdist group comes with each version's fixture param
@STORIES
@given(story=_story, fault_seed=st.integers(0, 2**16))
@example(story=RELEASED_WITH_NOTHING_TO_DELETE, fault_seed=0)
def test_reconcile_contract_holds_on_old_servers(
    old_mlflow_server: MlflowServer,
    story: list[Step],
    fault_seed: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every MLflow version the `old_mlflow_server` fixture stands for (its params join here)."""
    _run_story(old_mlflow_server, story, fault_seed, tmp_path, monkeypatch, capsys)
