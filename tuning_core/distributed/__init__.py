"""A search spread over processes or machines: the chief, its workers and their launch.

* ``agent``: an agent per lab machine: it offers the machine's slots once, and any distributed
  search that asks for workers gets them.
* ``chief``: the chief of a distributed search: serves KerasTuner's oracle to workers, never
  trains.
* ``launch``: distributed search: one chief process serves KerasTuner's oracle, workers run
  trials.
* ``token``: only the lab's own workers talk to a search's oracle: a per-run secret on every gRPC
  call.
* ``worker``: a worker of a distributed search: runs trials the chief's oracle hands it.
"""

from __future__ import annotations

from tuning_core.core.public import public

__all__, __getattr__ = public(__name__, {
    "agent": ("Agent", "AgentOptions", "AgentSlot", "Announcement", "WorkRequest", "free_slots",
              "live_agents", "slot_rows", "work_requests"),
    "chief": ("Chief", "unlocking"),
    "launch": ("DistributedOptions", "oracle_host", "plan_local_workers", "run_configured_search",
               "run_distributed_search", "worker_command", "workers"),
    "token": ("TokenCheck", "TokenMetadata", "authorised_channel", "issue_token", "read_token"),
    "worker": ("WorkerOptions", "parse_address", "run_worker", "wait_for_chief"),
})
