"""Socket.IO events and the download route of slide exports (raftviz/export).

``export_start`` checks the request, takes what the export needs from the session under its
lock (a snapshot for SVG/PNG, a replica of the history for GIF/WebM: the live run is never
touched), acknowledges ``{"ok": true, "job": id, "total": frames}`` and renders in a background
task. The task hands the CPU-heavy chunks (a few frames each) to a worker thread
(:meth:`Playback.offload`, as trace imports do), so the event loop keeps serving every other
page, and between chunks it sends the page ``export_progress`` ``{job, done, total}``; then
``export_done`` ``{job, url, filename, bytes, frames, width, height, seconds}`` or
``export_failed`` ``{job, error}``. The file is fetched from ``GET /export/<job>``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, Response, abort

from raftviz.export.jobs import ClipJob, ExportError, ExportRequest, parse_request, render_still
from raftviz.export.replay import replica, view_snapshot
from raftviz.export.store import ExportStore
from raftviz.service.sessions import Connection, Session
from raftviz.web.events import MAX_PAYLOAD, Ack, BadRequest, EventHandlers, ok

log = logging.getLogger(__name__)

MAX_RUNNING = 2  # exports at once, server-wide (each keeps a core busy)
CHUNK_FRAMES = 5  # frames per worker-thread call: progress about every quarter second


class ExportEvents:
    """``export_start`` on the lab's dispatcher, plus ``GET /export/<job>``."""

    def __init__(self, handlers: EventHandlers, store: ExportStore | None = None) -> None:
        self.handlers = handlers
        self.store = store or ExportStore(handlers.manager.clock)
        self.running: dict[str, str] = {}  # session token -> job id
        self._lock = threading.Lock()

    def install(self, app: Flask) -> None:
        self.handlers.events["export_start"] = (MAX_PAYLOAD, False, self.export_start)

        @app.get("/export/<job>")
        def export_file(job: str) -> Any:
            result = self.store.get(job) if len(job) <= 64 else None
            if result is None:
                abort(404, description="this export is gone (exports are kept ten minutes)")
            return Response(
                result.data,
                mimetype=result.mime,
                headers={
                    "Content-Disposition": f'attachment; filename="{result.filename}"',
                    "Cache-Control": "no-store",
                },
            )

    # ------------------------------------------------------------------ event

    def export_start(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        try:
            with session.lock:
                req = parse_request(data, session.history.horizon)
                if req.clip:
                    work: Any = replica(session.history, req.start)
                else:
                    work = view_snapshot(session.history.cluster)
                session.touch(self.handlers.manager.clock())
        except ExportError as exc:
            raise BadRequest(str(exc)) from None
        with self._lock:
            if session.token in self.running:
                raise BadRequest("an export of this session is still running; wait for it to "
                                 "finish")
            if len(self.running) >= MAX_RUNNING:
                raise BadRequest(f"the server is already making {MAX_RUNNING} exports; try again "
                                 "in a moment")
            job = self.store.new_id()
            self.running[session.token] = job
        self.handlers.socketio.start_background_task(self._run, session, conn.sid, job, req, work)
        return ok(job=job, total=req.frames)

    # ------------------------------------------------------------------- task

    def _emit(self, event: str, sid: str, payload: dict[str, Any]) -> None:
        self.handlers.socketio.emit(event, payload, to=sid)

    def _run(self, session: Session, sid: str, job: str, req: ExportRequest, work: Any) -> None:
        offload = self.handlers.playback.offload
        began = time.perf_counter()
        clip: ClipJob | None = None
        try:
            if req.clip:
                clip = running = offload(lambda: ClipJob(work, req))
                while running.done < running.total:
                    if self.handlers.manager.connection(sid) is None:
                        running.abort()  # the page is gone: nobody will download it
                        return
                    done = offload(lambda: running.step(CHUNK_FRAMES))
                    self._emit("export_progress", sid, {"job": job, "done": done,
                                                         "total": running.total})
                result = offload(running.finish)
            else:
                result = offload(lambda: render_still(work, req))
                self._emit("export_progress", sid, {"job": job, "done": 1, "total": 1})
            self.store.put(job, session.token, result)
            self._emit("export_done", sid, {
                "job": job,
                "url": f"/export/{job}",
                "filename": result.filename,
                "format": req.format,
                "bytes": len(result.data),
                "frames": result.frames,
                "width": result.width,
                "height": result.height,
                "seconds": round(time.perf_counter() - began, 2),
            })
        except ExportError as exc:
            self._emit("export_failed", sid, {"job": job, "error": str(exc)})
        except Exception as exc:
            log.exception("export %s failed", req.format)
            if clip is not None:
                clip.abort()
            self._emit("export_failed", sid, {"job": job,
                                              "error": f"export failed ({type(exc).__name__})"})
        finally:
            with self._lock:
                self.running.pop(session.token, None)
