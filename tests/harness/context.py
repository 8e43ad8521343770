"""A real InvokeAI InvocationContext outside the web server: real services on an in-memory database.

Images go to disk under a temporary root, downloads go through InvokeAI's real download queue, and
events are recorded so tests can read the progress messages the node sent.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from invokeai.app.services.board_image_records.board_image_records_sqlite import SqliteBoardImageRecordStorage
from invokeai.app.services.board_images.board_images_default import BoardImagesService
from invokeai.app.services.board_records.board_records_sqlite import SqliteBoardRecordStorage
from invokeai.app.services.boards.boards_default import BoardService
from invokeai.app.services.config.config_default import InvokeAIAppConfig
from invokeai.app.services.download.download_default import DownloadQueueService
from invokeai.app.services.events.events_base import EventServiceBase
from invokeai.app.services.image_files.image_files_disk import DiskImageFileStorage
from invokeai.app.services.image_moves.image_moves_default import ImageMoveService
from invokeai.app.services.image_records.image_records_common import ImageCategory, ResourceOrigin
from invokeai.app.services.image_records.image_records_sqlite import SqliteImageRecordStorage
from invokeai.app.services.images.images_default import ImageService
from invokeai.app.services.invocation_cache.invocation_cache_memory import MemoryInvocationCache
from invokeai.app.services.invocation_services import InvocationServices
from invokeai.app.services.invocation_stats.invocation_stats_default import InvocationStatsService
from invokeai.app.services.invoker import Invoker
from invokeai.app.services.model_manager.model_manager_default import ModelManagerService
from invokeai.app.services.model_records.model_records_sql import ModelRecordServiceSQL
from invokeai.app.services.names.names_default import SimpleNameService
from invokeai.app.services.session_queue.session_queue_common import SessionQueueItem
from invokeai.app.services.shared.graph import Graph, GraphExecutionState
from invokeai.app.services.shared.invocation_context import InvocationContextData, build_invocation_context
from invokeai.app.services.shared.sqlite.sqlite_util import init_db
from invokeai.app.services.urls.urls_default import LocalUrlService
from invokeai.app.services.users.users_default import UserService
from PIL import Image

_SERVICE_NAMES = (
    "board_images board_image_records boards board_records bulk_download configuration events images "
    "image_files image_moves image_records logger model_images model_manager model_relationships "
    "model_relationship_records download_queue external_generation performance_statistics "
    "session_queue session_processor invocation_cache names urls workflow_records tensors "
    "conditioning style_preset_records style_preset_image_files system_prompt_records "
    "workflow_thumbnails client_state_persistence users videos video_files video_records "
    "board_video_records gallery"
).split()


class RecordingEvents(EventServiceBase):
    """An event bus that keeps every event, for tests to read."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._lock = threading.Lock()
        self._dispatched = threading.Condition(self._lock)

    def dispatch(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)
            self._dispatched.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float) -> Any | None:
        """Block until an event for which ``predicate`` is true has been dispatched (or already was)
        -> the first such event, or None if none came within ``timeout`` seconds (a safety net, not a pace)."""
        with self._dispatched:
            return self._dispatched.wait_for(lambda: next((e for e in self.events if predicate(e)), None), timeout)

    def progress_messages(self) -> list[str]:
        with self._lock:
            return [e.message for e in self.events if type(e).__name__ == "InvocationProgressEvent"]


@dataclass
class Harness:
    """Real InvokeAI services rooted at ``root``; ``run`` executes one node like the session runner does."""

    root: Path
    services: InvocationServices
    events: RecordingEvents
    canceled: Callable[[], bool] = field(default=lambda: False)

    def upload(self, image: Image.Image) -> str:
        """A PIL image -> the name InvokeAI stored it under, as if the user had uploaded it."""
        dto = self.services.images.create(
            image=image, image_origin=ResourceOrigin.EXTERNAL, image_category=ImageCategory.USER
        )
        return dto.image_name

    def context(self, node: Any) -> tuple[Any, Any]:
        """An invocation -> (the graph's prepared copy of it, the InvocationContext the session runner would give it)."""
        graph = Graph()
        graph.add_node(node)
        state = GraphExecutionState(graph=graph)
        prepared = state.next()
        now = datetime.datetime.now()
        item = SessionQueueItem(
            item_id=1, batch_id="b", session_id=state.id, queue_id="default", session=state,
            created_at=now, updated_at=now, started_at=None, completed_at=None,
        )
        data = InvocationContextData(queue_item=item, invocation=prepared, source_invocation_id=node.id)
        return prepared, build_invocation_context(services=self.services, data=data, is_canceled=self.canceled)

    def run(self, node: Any) -> Any:
        """An invocation -> its output, run through InvokeAI's own invoke_internal."""
        prepared, context = self.context(node)
        return prepared.invoke_internal(context, self.services)

    def pil(self, image_name: str) -> Image.Image:
        return self.services.images.get_pil_image(image_name)

    def dto(self, image_name: str) -> Any:
        return self.services.images.get_dto(image_name)

    def stop(self) -> None:
        self.services.download_queue.stop()


def build(root: Path, **config: Any) -> Harness:
    """A temporary root folder and config overrides -> a started Harness."""
    cfg = InvokeAIAppConfig(use_memory_db=True, node_cache_size=0, **config)
    # the root as `--root` gives it, through the public INVOKEAI_ROOT (read and kept on first use), only while read
    previous = os.environ.get("INVOKEAI_ROOT")
    os.environ["INVOKEAI_ROOT"] = str(root)
    try:
        if cfg.root_path != root.absolute():
            raise RuntimeError(f"InvokeAI took {cfg.root_path} as its root, not {root}")
    finally:
        if previous is None:
            del os.environ["INVOKEAI_ROOT"]
        else:
            os.environ["INVOKEAI_ROOT"] = previous
    logger = logging.getLogger("invokeai-test")
    image_files = DiskImageFileStorage(root / "outputs" / "images")
    db = init_db(config=cfg, logger=logger, image_files=image_files)
    events = RecordingEvents()
    download_queue = DownloadQueueService(app_config=cfg, event_bus=events)
    model_manager = ModelManagerService.build_model_manager(
        app_config=cfg,
        model_record_service=ModelRecordServiceSQL(db=db, logger=logger),
        download_queue=download_queue,
        events=events,
    )
    real = dict(
        board_images=BoardImagesService(),
        board_image_records=SqliteBoardImageRecordStorage(db=db),
        boards=BoardService(),
        board_records=SqliteBoardRecordStorage(db=db),
        configuration=cfg,
        events=events,
        images=ImageService(),
        image_files=image_files,
        # as in the server: its lock serialises image saves, which timings in this harness must see
        image_moves=ImageMoveService(db=db, image_files=image_files, config=cfg, logger=logger),
        image_records=SqliteImageRecordStorage(db=db),
        logger=logger,
        model_manager=model_manager,
        download_queue=download_queue,
        performance_statistics=InvocationStatsService(),
        invocation_cache=MemoryInvocationCache(max_cache_size=0),
        names=SimpleNameService(),
        urls=LocalUrlService(),
        users=UserService(db=db),
    )
    services = InvocationServices(**{name: real.get(name) for name in _SERVICE_NAMES})
    Invoker(services)
    return Harness(root=root, services=services, events=events)
