"""The phase and section navigator: a tree with glyphs, counts and locked phases."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from runbook.format.model import Runbook, Section
from runbook.rules.state import DONE, RunState, Status


class PhaseTree(Tree[tuple[int, str]]):
    DEFAULT_CSS = """
    PhaseTree { width: 38; border-right: solid $primary-background; overflow-x: hidden; }
    """

    @dataclass
    class SectionSelected(Message):
        phase: int
        section: str

    def __init__(self, runbook: Runbook) -> None:
        super().__init__("Phases", id="phase-tree")
        self.runbook = runbook
        self.show_root = False
        self.guide_depth = 2
        self._sections: dict[str, TreeNode[tuple[int, str]]] = {}
        self._phases: list[TreeNode[tuple[int, str]]] = []

    def on_mount(self) -> None:
        for n, phase in enumerate(self.runbook.phases):
            pnode = self.root.add(phase.title, data=(n, ""), expand=True)
            self._phases.append(pnode)
            for section in phase.sections:
                self._sections[section.id] = pnode.add_leaf(section.title, data=(n, section.id))

    def refresh_state(self, state: RunState) -> None:
        for n, phase in enumerate(self.runbook.phases):
            total = done = 0
            for section in phase.sections:
                s_done, s_total, glyph = _counts(section, state)
                total += s_total
                done += s_done
                label = Text(f"{glyph} ")
                label.append(f"{s_done}/{s_total} ", "dim")
                label.append(section.title)
                self._sections[section.id].set_label(label)
            plabel = Text()
            if n > state.phase:
                plabel.append("⊠ ", "dim")
            elif n < state.phase or (done == total and total):
                plabel.append("✔ ", "green")
            else:
                plabel.append("▶ ", "bold yellow")
            plabel.append(f"{done}/{total} ", "dim")
            plabel.append(phase.title, "bold" if n == state.phase else "dim" if n > state.phase
                          else "")
            self._phases[n].set_label(plabel)

    def select_section(self, section_id: str) -> None:
        node = self._sections.get(section_id)
        if node is not None:
            self.move_cursor(node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[tuple[int, str]]) -> None:
        data = event.node.data
        if data is None:
            return
        phase, section = data
        if not section:
            section = self.runbook.phases[phase].sections[0].id
        self.post_message(self.SectionSelected(phase, section))


def _counts(section: Section, state: RunState) -> tuple[int, int, str]:
    items = [i for i in section.items if state.items[i.id].status is not Status.NOT_TAKEN]
    for i in section.items:
        for o in i.options:
            items.extend(b for b in o.items if state.items[b.id].status is not Status.NOT_TAKEN)
    statuses = [state.items[i.id].status for i in items]
    done = sum(1 for s in statuses if s in DONE)
    if any(s is Status.RUNNING for s in statuses):
        glyph = "◐"
    elif any(s in (Status.FAILED, Status.NEEDS_RECONCILE) for s in statuses):
        glyph = "✘"
    elif done == len(statuses):
        glyph = "✔"
    else:
        glyph = "○"
    return done, len(statuses), glyph
