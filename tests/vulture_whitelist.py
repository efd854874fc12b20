"""Names `vulture` (make lint) sees defined and never used, which something else uses.

Not imported by anything: vulture reads it with the code (pyproject.toml, [tool.vulture]),
and every name listed here counts as used. Textual's event and action hooks (`on_*`,
`action_*`, `watch_*`) are ignored by pattern there; pytest fixtures by their decorator.
A name belongs here only if a framework, the standard library or a data format reads it;
code that nothing uses is deleted instead.
"""

from __future__ import annotations


class _Any:
    def __getattr__(self, name: str) -> None:
        return None


def used(*names: object) -> None:
    """Marks names as used (vulture only reads this file)."""


_ = _Any()

# Textual reads these class attributes, and shows what these properties are set to
used(_.CSS_PATH, _.TITLE, _.ENABLE_COMMAND_PALETTE, _.DEFAULT_CSS, _.sub_title,
     _.border_subtitle, _.show_root, _.guide_depth)

# http.server and socketserver read these class attributes and call these hooks
used(_.do_GET, _.do_POST, _.do_PUT, _.do_PATCH, _.do_DELETE, _.log_message, _.handle_error,
     _.protocol_version, _.server_version, _.sys_version, _.close_connection, _.daemon_threads,
     _.block_on_close, _.allow_reuse_address, _.request_queue_size)

# PyYAML's constructor state, reset by the loader between documents (runbook/format/yamlnodes.py)
used(_.recursive_objects, _.state_generators, _.deep_construct)

# fields kept for whoever reads or shows the data
used(_.sensitive,  # a variable's `sensitive:` in the runbook format (runbook/format/model.py)
     _.opens_in_s,  # WindowStatus: time until the window opens (runbook/rules/window.py)
     _.http)  # the rehearsal world's HTTP stand-in server (runbook/sandbox/world.py)

# fixtures a test asks for only for what they set up (environment variables, a paused replica)
used(_.pg_env, _.paused_replay, _.sandbox_env)

# the snapshot tests' fake `time` module: Textual calls these
used(_.time_ns, _.localtime)
