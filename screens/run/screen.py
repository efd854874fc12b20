"""The main screen of a run: navigator, item list, detail, log and the other panes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import TabbedContent, TabPane

from runbook.execute.itemlog import tail_file
from runbook.files.paths import log_name
from runbook.format.model import Item, Section
from runbook.session.run import Run
from screens.messages import HealthSnapshot, PodsChanged, PodsSnapshot, PodsStatus, RunEvent
from screens.run.actions import RunActions
from screens.run.bridge import Bridge, PodsFeed, freeze_heap
from screens.run.follower import SessionFollower
from screens.run.pairing import PairingActions
from screens.terminal.key_footer import KeyFooter
from screens.terminal.pacing import paced_interval
from screens.widgets.contacts import Contacts
from screens.widgets.health_table import HealthTable
from screens.widgets.item_detail import ItemDetail
from screens.widgets.item_list import ItemList
from screens.widgets.journal_view import JournalView
from screens.widgets.log_pane import SWITCH_LINES, LogPane
from screens.widgets.phase_tree import PhaseTree
from screens.widgets.pod_table import PodTable
from screens.widgets.status_bar import StatusBar

NARROW_WIDTH = 110

BINDINGS = [
    Binding("r", "run_item", "Run", id="step.run"),
    Binding("c", "confirm_item", "Confirm", id="step.confirm"),
    Binding("x", "cancel_item", "Cancel", id="step.cancel"),
    Binding("s", "skip_item", "Skip", show=False, id="step.skip"),
    Binding("o", "override_item", "Override", id="step.override"),
    Binding("a", "run_section_checks", "Run checks", show=False, id="section.run-checks"),
    Binding("n", "next_phase", "Next phase", id="phase.next"),
    Binding("right_square_bracket", "next_section", "Next section", show=False,
            id="section.next"),
    Binding("left_square_bracket", "prev_section", "Previous section", show=False,
            id="section.previous"),
    Binding("slash", "search", "Find", show=False, id="app.find"),
    Binding("t", "toggle_nav", "Navigator", show=False, id="view.navigator"),
    Binding("1", "tab('tab-detail')", "Detail", show=False, id="view.detail"),
    Binding("2", "tab('tab-log')", "Log", show=False, id="view.log"),
    Binding("3", "tab('tab-pods')", "Pods", show=False, id="view.pods"),
    Binding("4", "tab('tab-services')", "Services", show=False, id="view.services"),
    Binding("5", "tab('tab-contacts')", "Contacts", show=False, id="view.contacts"),
    Binding("6", "tab('tab-journal')", "Journal", show=False, id="view.journal"),
    Binding("g", "cosign_item", "Co-sign", show=False, id="step.cosign"),
    Binding("w", "wheel", "Wheel", show=False, id="session.wheel"),
    Binding("T", "take_over", "Take over", show=False, id="session.take-over"),
    Binding("question_mark", "help", "Help", id="app.help"),
    Binding("q", "quit_run", "Quit", id="app.quit"),
]


class RunScreen(PairingActions, RunActions):
    BINDINGS = BINDINGS  # type: ignore[assignment]

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.bridge = Bridge(self)
        self.section: Section = run.runbook.phases[0].sections[0]
        self.item: Item | None = None
        self._init_actions()

    def compose(self) -> ComposeResult:
        rb = self.run.runbook
        yield StatusBar(self.run)
        with Horizontal(id="body"):
            yield PhaseTree(rb)
            with Vertical(id="main"):
                with Horizontal(id="top"):
                    yield ItemList()
                    yield ItemDetail(self.run, id="side-detail")
                with TabbedContent(id="tabs", initial="tab-log"):
                    with TabPane("Detail", id="tab-detail"):
                        yield ItemDetail(self.run, id="tab-detail-view")
                    with TabPane("Log", id="tab-log"):
                        yield LogPane()
                    with TabPane("Pods", id="tab-pods"):
                        yield PodTable()
                    for title, pane in (("Services", "tab-services"), ("Contacts", "tab-contacts"),
                                        ("Journal", "tab-journal")):
                        yield TabPane(title, id=pane)  # hidden at first: filled after the first paint
        yield KeyFooter()

    def on_mount(self) -> None:
        self.run.subscribe(self.bridge.event)
        self.watch_role()
        self.follower = SessionFollower(self.run, self.bridge, lambda: set(self.threads))
        if self.run.driving:  # steps left running by an earlier terminal of this session
            for item_id in self.run.running_detached():
                self.start_item(item_id, reattach=True)
        self.run.on_publish(self._published)
        self.query_one(ItemList).title_of = self.run.text
        tree = self.query_one(PhaseTree)
        tree.refresh_state(self.run.state)
        self._show_section(self.run.runbook.phases[self.run.state.phase].sections[0])
        paced_interval(self, self._drain_output)  # 100 ms, longer when output is heavy
        self.set_interval(1.0, self._tick)
        self._layout(self.app.size.width)
        self.query_one(ItemList).focus()
        self.pods_feed: PodsFeed | None = None
        self._painted = False

    def on_screen_resume(self) -> None:
        if not self._painted:  # the app's loop runs after Textual's batched start-up: from
            self._painted = True  # there, the next refresh is the first paint of this screen
            self.app.call_later(self.call_after_refresh, self._after_first_paint)

    async def _after_first_paint(self) -> None:
        freeze_heap("first paint")
        self.follower.start()  # others' events (co-signs, detached results, the driver)
        if self.run.env.namespace:
            self.pods_feed = PodsFeed(self, self.run.meta.kube_context, self.run.env.namespace)
            self.run_worker(self.pods_feed.run, thread=True, group="pods", exit_on_error=False)
        rb = self.run.runbook
        for pane, widget in (("tab-services", HealthTable(rb)), ("tab-contacts", Contacts(rb)),
                             ("tab-journal", JournalView(self.run))):
            await self.query_one(f"#{pane}", TabPane).mount(widget)

    def on_unmount(self) -> None:
        self.follower.stop()  # the app's session lifecycle leaves the run, after this
        if self.pods_feed is not None:
            self.pods_feed.stop(0.5)

    def on_pods_status(self, message: PodsStatus) -> None:
        for table in self.query(PodTable):
            if not table.row_count or "watching" not in message.text:
                table.border_title = message.text

    # -- layout ------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        self._layout(event.size.width)

    def detail(self) -> ItemDetail:
        """The detail view on screen: beside the list, or in its tab when narrow."""
        wanted = "#tab-detail-view" if self.has_class("-narrow") else "#side-detail"
        return self.query_one(wanted, ItemDetail)

    def _layout(self, width: int) -> None:
        narrow = width < NARROW_WIDTH
        was_narrow = self.has_class("-narrow")
        self.set_class(narrow, "-narrow")
        if narrow != was_narrow:
            self.detail().show(self.item)
        tabs = self.query_one(TabbedContent)
        if narrow:
            tabs.show_tab("tab-detail")
            if not was_narrow:
                tabs.active = "tab-detail"
                self.set_class(True, "-nav-hidden")
        else:
            self.set_class(False, "-nav-hidden")
            if tabs.active == "tab-detail":
                tabs.active = "tab-log"
            tabs.hide_tab("tab-detail")

    # -- state -> widgets ----------------------------------------------------------
    def on_run_event(self, message: RunEvent) -> None:
        ev, state = message.event, self.run.state  # the newest state: events may arrive late
        for journal in self.query(JournalView):  # none until it is mounted (lazily)
            journal.add_event(ev)
        health = (ev.get("facts") or {}).get("health") if ev.kind.value == "item.result" else None
        if isinstance(health, dict) and not self.run.driving:  # a follower: the journaled round
            self.post_message(HealthSnapshot({n: {**h, "checked": ev.ts}
                                              for n, h in health.items()}))
        self.query_one(PhaseTree).refresh_state(state)
        changed = {ev.item} if ev.item else None
        if ev.item and ev.kind.value == "item.chosen":
            changed = None  # branch items changed too
        self.query_one(ItemList).refresh_state(state, changed)
        if self.item is not None and (ev.item is None or ev.item == self.item.id or changed is None):
            self.detail().refresh_detail()
        self.query_one(StatusBar).refresh_status()
        if ev.kind.value == "notify.failed":
            self.notify(f"{ev.get('error')}", title="Notification not delivered",
                        severity="warning")
        if ev.kind.value == "item.result" and ev.get("outcome") in ("failed", "timed-out"):
            self.notify(f"{ev.item}: {ev.get('message')}", title="Step failed", severity="error")

    def _published(self, topic: str, data: object) -> None:
        """Live data from a step thread (thread-safe: only posts a message)."""
        if topic == "health" and isinstance(data, dict):
            self.post_message(HealthSnapshot(dict(data)))

    def on_pods_snapshot(self, message: PodsSnapshot) -> None:
        for table in self.query(PodTable):
            table.apply_snapshot(message.pods)

    def on_pods_changed(self, message: PodsChanged) -> None:
        try:
            for table in self.query(PodTable):
                table.apply_changes(message.changed, message.removed)
        finally:
            message.done()  # the watcher sends the next batch

    def on_health_snapshot(self, message: HealthSnapshot) -> None:
        for table in self.query(HealthTable):
            table.apply(message.services)

    def _drain_output(self) -> None:
        batches = self.bridge.drain()
        pane = self.query_one(LogPane)
        if pane.item_id in batches:
            pane.append(*batches[pane.item_id])

    def _tick(self) -> None:
        self.query_one(ItemList).tick(self.run.state)

    # -- navigation ----------------------------------------------------------------
    def on_phase_tree_section_selected(self, message: PhaseTree.SectionSelected) -> None:
        for s in self.run.runbook.phases[message.phase].sections:
            if s.id == message.section and s is not self.section:
                self._show_section(s, from_tree=True)

    def on_item_list_item_highlighted(self, message: ItemList.ItemHighlighted) -> None:
        item = self.run.runbook.item(message.item)
        self.item = item
        self.detail().show(item)
        lines, total = self.bridge.history(item.id)
        if not total and self.run.state.items[item.id].attempts:  # ran before this terminal
            lines, total = tail_file(self.run.dir / "logs" / log_name(item.id), SWITCH_LINES)
        self.query_one(LogPane).show(item.id, lines, total, str(self.run.dir / "logs"))

    def _show_section(self, section: Section, from_tree: bool = False) -> None:
        self.section = section
        self.query_one(ItemList).show(section, self.run.state)
        if not from_tree:
            self.query_one(PhaseTree).select_section(section.id)

    def select_item(self, item_id: str) -> None:
        item = self.run.runbook.item(item_id)
        for p in self.run.runbook.phases:
            for s in p.sections:
                if s.id == item.section and p.id == item.phase:
                    if s is not self.section:
                        self._show_section(s)
                    self.query_one(ItemList).select(item_id)
                    return
