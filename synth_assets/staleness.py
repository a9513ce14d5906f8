"""Which assets are stale and why, from Dagster's own data-version bookkeeping (what the UI shows).

Dagster computes staleness for its UI and for `RunRequest(stale_assets_only=True)`, but exposes
no public function for it; this module is the one place that reaches into that machinery, so a
Dagster upgrade has one file to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, Definitions, RepositoryDefinition
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime


@dataclass(frozen=True)
class AssetState:
    """One asset's status ('fresh', 'stale', 'missing') and the root causes when stale."""

    key: AssetKey
    status: str
    causes: tuple[str, ...]
    partitions: tuple[str, ...] = ()  # of a partitioned asset: the partitions that need a run

    @property
    def needs_run(self) -> bool:
        return self.status != "fresh"


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
        if node.is_partitioned:
            states.append(_partitioned_state(resolver, key, node.partitions_def.get_partition_keys()))
            continue
        status = resolver.get_status(key)
        states.append(AssetState(key, status.value.lower(), _causes(resolver, key, None) if status == StaleStatus.STALE else ()))
    return states


def _causes(resolver: CachingStaleStatusResolver, key: AssetKey, partition: str | None) -> tuple[str, ...]:
    return tuple(
        f"{c.key.asset_key.to_user_string()}"
        + (f"[{c.key.partition_key}]" if c.key.partition_key else "")
        + f": {c.reason}"
        + (f" ({c.dependency.asset_key.to_user_string()})" if c.dependency else "")
        for c in resolver.get_stale_root_causes(key, partition)
    )


def _partitioned_state(resolver: CachingStaleStatusResolver, key: AssetKey, partitions: list[str]) -> AssetState:
    """A sharded asset is missing or stale when any shard is; the shards to run are listed."""
    statuses = {p: resolver.get_status(key, p) for p in partitions}
    todo = tuple(p for p, st in statuses.items() if st != StaleStatus.FRESH)
    if any(st == StaleStatus.MISSING for st in statuses.values()):
        status = "missing"
    elif todo:
        status = "stale"
    else:
        status = "fresh"
    causes = tuple(c for p in todo if statuses[p] == StaleStatus.STALE for c in _causes(resolver, key, p))
    return AssetState(key, status, tuple(dict.fromkeys(causes)), todo)
