"""The tray's windows, all Qt widgets of its own process: the preview (before | after, drawn from
the pipeline's newest frame pair with QImage, so no second GUI toolkit such as OpenCV's is
loaded), the doctor report in a fixed-width font, and message boxes whose text can be copied."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.preview import PreviewSink


class PreviewFeed(PreviewSink):
    """The preview sink behind the window: watched only while the window is shown, so that the
    pipeline rests when nothing else (such as a call using the virtual camera) watches."""

    shown = False

    @property
    def watched(self) -> bool:
        return self.shown


def qimage(rgb: np.ndarray) -> QtGui.QImage:
    """A QImage over the RGB array's memory (keep the array while the image is used)."""
    h, w = rgb.shape[:2]
    return QtGui.QImage(rgb.data, w, h, rgb.strides[0], QtGui.QImage.Format.Format_RGB888)


class PreviewWindow(QtWidgets.QWidget):
    """Before (the source, smoothly scaled to the output size) | after (vcam-sr), redrawn at the
    pipeline's frame rate while shown; hidden or closed, it stops drawing and unwatches its feed."""

    closed = QtCore.Signal()

    def __init__(self, feed: PreviewFeed, fps: Callable[[], float]):
        super().__init__()
        self.feed, self.fps = feed, fps
        self.setWindowTitle("vcam-sr preview: before | after")
        self.resize(960, 270)  # two 16:9 pictures
        screen = QtGui.QGuiApplication.primaryScreen()
        if screen is not None:  # centred, not over the tray in a corner
            self.move(screen.availableGeometry().center() - self.rect().center())
        self.pair: tuple[np.ndarray, np.ndarray] | None = None
        self.count = self.drawn = 0  # the feed's count last shown; frames drawn (for a test)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._next_frame)

    def showEvent(self, event) -> None:
        self.feed.shown = True
        self.timer.start(max(5, round(1000 / max(self.fps(), 1))))
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # closed or minimised
        self.feed.shown = False
        self.timer.stop()
        self.pair = None
        super().hideEvent(event)

    def closeEvent(self, event) -> None:
        super().closeEvent(event)
        self.closed.emit()

    def _next_frame(self) -> None:
        pair, count = self.feed.newest()
        if pair is not None and count != self.count:
            self.pair, self.count = tuple(np.ascontiguousarray(to_rgb(f)) for f in pair), count
            self.update()

    def paintEvent(self, event) -> None:
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor("#181818"))
        painter.setPen(QtGui.QColor("#e8e8e8"))
        if self.pair is None:
            painter.drawText(self.rect(), QtCore.Qt.AlignmentFlag.AlignCenter,
                             "No frames yet: choose Start in the vcam-sr tray menu")
            return
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
        before, after = self.pair
        h, w = after.shape[:2]
        scale = min(self.width() / (2 * w), self.height() / h)
        box_w, box_h = round(w * scale), round(h * scale)
        top, left = (self.height() - box_h) // 2, (self.width() - 2 * box_w) // 2
        for i, (frame, label) in enumerate(((before, "before (smooth 2x scale)"), (after, "after (vcam-sr)"))):
            target = QtCore.QRect(left + i * box_w, top, box_w, box_h)
            painter.drawImage(target, qimage(frame))
            painter.fillRect(target.x() + 6, target.y() + 6, 190, 22, QtGui.QColor(0, 0, 0, 150))
            painter.drawText(target.x() + 12, target.y() + 22, label)
        painter.end()
        self.drawn += 1


class TextDialog(QtWidgets.QDialog):
    """A long plain text (the doctor report) in a fixed-width font, lines never wrapped, so that
    its columns stay aligned; selectable, with a Copy button."""

    def __init__(self, title: str, text: str):
        super().__init__()
        self.setWindowTitle(title)
        self.view = QtWidgets.QPlainTextEdit(text)
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QtWidgets.QApplication.clipboard().setText(text))
        buttons.rejected.connect(self.close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
        metrics = QtGui.QFontMetrics(self.view.font())
        widest = max((metrics.horizontalAdvance(line) for line in text.splitlines()), default=400)
        self.resize(min(widest + 60, 1200), min(metrics.lineSpacing() * (text.count("\n") + 4) + 60, 700))


def message(icon: QtWidgets.QMessageBox.Icon, headline: str, details: str = "") -> QtWidgets.QMessageBox:
    """A non-modal message box (a tray has no main window to block) whose text can be selected
    and copied, such as a command that fixes the problem."""
    box = QtWidgets.QMessageBox(icon, "vcam-sr", headline)
    box.setInformativeText(details)
    box.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    box.setStandardButtons(QtWidgets.QMessageBox.StandardButton.Close)
    box.setModal(False)
    return box


def state_icon(colour: str) -> QtGui.QIcon:
    """The tray icon: "2x" on a disc of the state's colour."""
    pixmap = QtGui.QPixmap(64, 64)
    pixmap.fill(QtGui.QColor(0, 0, 0, 0))
    painter = QtGui.QPainter(pixmap)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor(colour))
    painter.setPen(QtGui.QColor("#202020"))
    painter.drawEllipse(4, 4, 56, 56)
    painter.setPen(QtGui.QColor("white"))
    font = painter.font()
    font.setPixelSize(26)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), QtCore.Qt.AlignmentFlag.AlignCenter, "2x")
    painter.end()
    return QtGui.QIcon(pixmap)
