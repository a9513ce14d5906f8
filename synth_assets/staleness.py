"""Which assets are stale and why, from Dagster's own data-version bookkeeping (what the UI shows).

Dagster computes staleness for its UI and for `RunRequest(stale_assets_only=True)`, but exposes
no public function for it; this module is the one place that reaches into that machinery, so a
Dagster upgrade has one file to fix.

Dagster trusts its records; a table's file can still be deleted, truncated or rewritten behind its
back. So each materialised table's file is checked against its latest materialisation (present,
readable, content hash equal to the recorded data version) and one that fails is stale, named.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, Definitions, RepositoryDefinition
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from synth_assets.storage.location import location
from synth_assets.storage.table_files import FILE_FACTS, TABLE_PATH, file_problem


@dataclass(frozen=True)
class AssetState:
    """One asset's own status ('fresh', 'stale', 'missing'), its root causes, and the stale assets above it."""

    key: AssetKey
    status: str
    causes: tuple[str, ...]
    partitions: tuple[str, ...] = ()  # of a partitioned asset: the partitions that need a run
    # the nearest upstream assets that need a run ("tiny/seeds changed"): if their rerun changes
    # their content this asset is stale next; if it gives identical content it stays fresh
    upstream: tuple[str, ...] = ()

    @property
    def needs_run(self) -> bool:
        """Stale or missing itself: what the next wave of `synth run --stale` runs."""
        return self.status != "fresh"

    @property
    def may_need_run(self) -> bool:
        """Fresh itself, but behind an asset that needs a run."""
        return not self.needs_run and bool(self.upstream)

    @property
    def label(self) -> str:
        """The status as `synth status` prints it: a fresh asset behind a stale one reads stale, with the upstream named."""
        return f"stale (upstream {', '.join(self.upstream)})" if self.may_need_run else self.status


def asset_states(defs: Definitions | RepositoryDefinition, instance: DagsterInstance, group: str | None = None) -> list[AssetState]:
    """Status of every materialisable asset (of one group), in topological order; sensors pass their repository."""
    graph = defs.asset_graph if isinstance(defs, RepositoryDefinition) else defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    states = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable or (group and node.group_name != group):
            continue
        partitions = list(node.partitions_def.get_partition_keys()) if node.is_partitioned else [None]
        states.append(_state(resolver, instance, key, partitions))
    return _with_upstream(graph, states)


def _state(resolver: CachingStaleStatusResolver, instance: DagsterInstance, key: AssetKey,
           partitions: list[str | None]) -> AssetState:
    """Missing or stale when any partition is (a sharded asset lists the shards to run); files checked too."""
    causes: list[str] = []
    todo: list[str | None] = []
    missing = False
    for partition in partitions:
        status = resolver.get_status(key, partition)
        if status == StaleStatus.MISSING:
            missing = True
            todo.append(partition)
            continue
        found = list(_causes(resolver, key, partition)) if status == StaleStatus.STALE else []
        problem = _file_problem(instance, key, partition)
        if problem:
            found.append(f"{_name(key, partition)}: {problem}")
        if status == StaleStatus.STALE or problem:
            causes += found
            todo.append(partition)
    status = "missing" if missing else "stale" if todo else "fresh"
    return AssetState(key, status, tuple(dict.fromkeys(causes)), tuple(p for p in todo if p is not None))


def _name(key: AssetKey, partition: str | None) -> str:
    return key.to_user_string() + (f"[{partition}]" if partition else "")


def _causes(resolver: CachingStaleStatusResolver, key: AssetKey, partition: str | None) -> tuple[str, ...]:
    return tuple(
        f"{_name(c.key.asset_key, c.key.partition_key)}: {c.reason}"
        + (f" ({c.dependency.asset_key.to_user_string()})" if c.dependency else "")
        for c in resolver.get_stale_root_causes(key, partition)
    )


def _file_problem(instance: DagsterInstance, key: AssetKey, partition: str | None) -> str | None:
    """What is wrong with the file the latest materialisation wrote, if anything (an asset without a file: nothing)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1).records
    materialization = records[0].asset_materialization if records else None
    path = materialization.metadata.get(TABLE_PATH) if materialization else None
    if path is None:
        return None
    facts = materialization.metadata.get(FILE_FACTS)
    return file_problem(location(str(path.value)), materialization.tags.get(DATA_VERSION_TAG), facts.value if facts else None)


def _with_upstream(graph, states: list[AssetState]) -> list[AssetState]:
    """Each state with the nearest assets above it that need a run: what `status` shows as the transitive effect."""
    by_key = {s.key: s for s in states}
    nearest: dict[AssetKey, set[AssetKey]] = {}
    out = []
    for state in states:  # topological order: a parent's nearest set is known before its children's
        near: set[AssetKey] = set()
        for parent in graph.get(state.key).parent_keys:
            if parent in by_key:
                near |= {parent} if by_key[parent].needs_run else nearest[parent]
        nearest[state.key] = near
        words = tuple(f"{k.to_user_string()} {'missing' if by_key[k].status == 'missing' else 'changed'}"
                      for k in sorted(near, key=AssetKey.to_user_string))
        out.append(replace(state, upstream=words))
    return out
