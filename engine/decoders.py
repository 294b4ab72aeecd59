"""Decoders of Telegram's animated (TGS: gzipped Lottie) and video (WEBM) stickers.

`engine.media` dispatches to them by sniffed format. Lottie is rendered by rlottie in a child
process: crafted animations crash or exhaust it (a self-referencing precomp segfaults it), and a
crash there must cost one sticker, not the bot.
"""

import importlib.util
import io
import json
import math
import resource
import subprocess
import sys
import zlib
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from engine.errors import MediaError, UnsupportedFormatError
from engine.frames import DecodedMedia, representative_index
from engine.imaging import scaled_size

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.packet import Packet
    from av.video.codeccontext import VideoCodecContext
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

LOTTIE_MAX_JSON_BYTES = 10 * 1024 * 1024  # Telegram caps a TGS at 64 KB compressed
LOTTIE_MAX_FRAMES = 10_000
LOTTIE_RENDER_SIDE = 512  # Telegram's sticker size
LOTTIE_TIMEOUT_S = 10.0
RENDERER_MEMORY_BYTES = 1024 * 1024 * 1024
VIDEO_MAX_SECONDS = 10.0  # Telegram allows 3 s; leave room for other sources
VIDEO_MAX_FRAMES = 600
ANIMATION_MAX_FRAMES = 100  # frames re-encoded for posting; at 25 fps that is 4 s
# FFmpeg's native VP8/VP9 decoders drop the alpha plane; libvpx reads it from the container.
_ALPHA_DECODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx"}
_VIDEO_CODECS = {"vp8", "vp9", "av1"}  # what WEBM may carry; anything else is refused
_EXIT_NOT_LOTTIE = 3
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


def decode_tgs(data: bytes, max_pixels: int) -> DecodedMedia:
    """Render the middle frame of a TGS (gzipped Lottie) animation at sticker size."""
    if importlib.util.find_spec("rlottie_python") is None:
        raise UnsupportedFormatError("animated (TGS) stickers need the rlottie-python package")
    doc = parse_lottie(gunzip_bounded(data, LOTTIE_MAX_JSON_BYTES))
    width, height, frames = lottie_facts(doc, max_pixels)
    size = scaled_size(width, height, LOTTIE_RENDER_SIDE)
    # Lottie frames are rendered by number, so any frame costs the same: take the middle one.
    index = representative_index(frames, 0)
    canonical = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    frame = render_lottie_isolated(canonical, size, index)
    return DecodedMedia("tgs", frame, width, height, frames)


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Decompress one gzip member, refusing more than `limit` bytes of output (gzip bombs)."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MediaError(f"corrupt animated sticker (bad gzip data: {exc})") from exc
    if len(out) > limit:
        raise MediaError(f"animated sticker too large (over {limit} bytes of Lottie JSON)")
    if not inflater.eof:
        raise MediaError("truncated animated sticker (the gzip stream ends early)")
    return out


def parse_lottie(raw: bytes) -> dict[str, object]:
    """The Lottie document as a dict, or raise `MediaError`."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MediaError("animated sticker is not valid Lottie JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise MediaError("animated sticker is not a Lottie animation (no layer list)")
    return doc


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def lottie_facts(doc: dict[str, object], max_pixels: int) -> tuple[int, int, int]:
    """Canvas width, height and frame count of a Lottie document, validated."""
    width, height = _number(doc, "w"), _number(doc, "h")
    start, end, rate = _number(doc, "ip"), _number(doc, "op"), _number(doc, "fr")
    if width < 1 or height < 1 or rate <= 0 or end <= start:
        raise MediaError("animated sticker has an invalid size, frame rate or frame range")
    if width * height > max_pixels:
        raise MediaError(f"animated sticker too large ({width:g}x{height:g} canvas)")
    frames = max(1, round(end - start))
    if frames > LOTTIE_MAX_FRAMES:
        raise MediaError(f"animated sticker too long ({frames} frames)")
    return round(width), round(height), frames


def _number(doc: dict[str, object], key: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MediaError(f"animated sticker is not a Lottie animation ({key!r} is not a number)")
    return float(value)


def render_lottie_frames(
    data: bytes, max_pixels: int, max_side: int, max_fps: float
) -> tuple[list[Image.Image], int]:
    """Frames of a TGS animation at most `max_side` pixels and `max_fps`, and each one's ms.

    Rendered in the isolated child like single frames; for re-encoding as a GIF to post.
    """
    if importlib.util.find_spec("rlottie_python") is None:
        raise UnsupportedFormatError("animated (TGS) stickers need the rlottie-python package")
    doc = parse_lottie(gunzip_bounded(data, LOTTIE_MAX_JSON_BYTES))
    width, height, frames = lottie_facts(doc, max_pixels)
    rate = float(doc["fr"])  # type: ignore[arg-type]  # lottie_facts checked it is a number
    step = max(1, math.ceil(rate / max_fps))
    indices = list(range(0, frames, step))[:ANIMATION_MAX_FRAMES]
    size = scaled_size(width, height, max_side)
    canonical = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    images = render_lottie_isolated_frames(canonical, size, indices)
    return images, max(20, round(1000 * step / rate))


def render_lottie_isolated(lottie_json: bytes, size: tuple[int, int], index: int) -> Image.Image:
    """Render frame `index` of a Lottie document in a child process; RGBA, straight alpha."""
    return render_lottie_isolated_frames(lottie_json, size, [index])[0]


def render_lottie_isolated_frames(
    lottie_json: bytes, size: tuple[int, int], indices: list[int]
) -> list[Image.Image]:
    """Render frames of a Lottie document in one child process; RGBA, straight alpha."""
    frame_bytes = size[0] * size[1] * 4
    done = _run_renderer(lottie_json, [*map(str, size), ",".join(map(str, indices))])
    if done.returncode != 0 or len(done.stdout) != frame_bytes * len(indices):
        raise MediaError(
            f"animated sticker could not be rendered (renderer exit {done.returncode})"
        )
    # rlottie draws premultiplied ARGB32, which is BGRA byte order on little-endian machines.
    return [
        Image.frombytes(
            "RGBA", size, done.stdout[n * frame_bytes : (n + 1) * frame_bytes], "raw", "BGRa"
        )
        for n in range(len(indices))
    ]


def _run_renderer(lottie_json: bytes, args: list[str]) -> "subprocess.CompletedProcess[bytes]":
    command = [sys.executable, "-m", "engine.decoders", "render-lottie", *args]
    try:
        done = subprocess.run(
            command,
            input=lottie_json,
            capture_output=True,
            timeout=LOTTIE_TIMEOUT_S,
            cwd=_PROJECT_ROOT,  # `-m` then finds this very engine package
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"animated sticker took over {LOTTIE_TIMEOUT_S:g} s to render") from exc
    if done.returncode == _EXIT_NOT_LOTTIE:
        raise MediaError("animated sticker is not a Lottie animation (the renderer refused it)")
    if done.returncode < 0:
        raise MediaError(f"animated sticker crashed the renderer (signal {-done.returncode})")
    return done


def _renderer_main(argv: list[str]) -> int:
    """Child process: Lottie JSON on stdin, raw premultiplied BGRA frames on stdout.

    Arguments: width, height and the frame numbers, comma-separated.
    """
    width, height = int(argv[0]), int(argv[1])
    indices = [int(i) for i in argv[2].split(",")]
    _limit_resources(RENDERER_MEMORY_BYTES, math.ceil(LOTTIE_TIMEOUT_S))
    from rlottie_python.rlottie_wrapper import LottieAnimation

    animation = LottieAnimation.from_data(sys.stdin.buffer.read().decode("utf-8"))
    if not animation.animation_p:
        return _EXIT_NOT_LOTTIE
    for index in indices:
        pixels = animation.lottie_animation_render(frame_num=index, width=width, height=height)
        sys.stdout.buffer.write(pixels)
    return 0


def _limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    # A hostile animation (a repeater with 10^8 copies) must fail here, not swap the host.
    for limit, value in ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_CPU, cpu_seconds)):
        _soft, hard = resource.getrlimit(limit)
        soft = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (soft, hard))


def decode_webm(data: bytes, max_pixels: int) -> DecodedMedia:
    """Decode the middle frame of a WEBM video sticker, keeping its transparency."""
    try:
        import av
    except ImportError as exc:
        raise UnsupportedFormatError("video (WEBM) stickers need the av (PyAV) package") from exc
    try:
        with av.open(io.BytesIO(data), mode="r", format="matroska") as container:
            return _decode_container(container, max_pixels)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise MediaError(f"corrupt or unreadable video sticker ({reason})") from exc


def decode_webm_frames(
    data: bytes, max_pixels: int, max_side: int, max_fps: float
) -> tuple[list[Image.Image], int]:
    """Frames of a WEBM video sticker at most `max_side` pixels and `max_fps`, and each one's ms.

    Transparency is kept (libvpx); for re-encoding as a GIF to post.
    """
    try:
        import av
    except ImportError as exc:
        raise UnsupportedFormatError("video (WEBM) stickers need the av (PyAV) package") from exc
    try:
        with av.open(io.BytesIO(data), mode="r", format="matroska") as container:
            stream = _video_stream(container, max_pixels)
            rate = float(stream.average_rate or 30)
            step = max(1, math.ceil(rate / max_fps))
            packets = _video_packets(container, stream)
            decoder = _open_decoder(stream, max_pixels)
            frames = _sampled_frames(decoder, packets, step, max_side)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise MediaError(f"corrupt or unreadable video sticker ({reason})") from exc
    if not frames:
        raise MediaError("video sticker has no decodable frames")
    return frames, max(20, round(1000 * step / rate))


def _sampled_frames(
    context: "VideoCodecContext", packets: Iterable["Packet[VideoStream]"], step: int, side: int
) -> list[Image.Image]:
    out: list[Image.Image] = []
    for position, frame in enumerate(_frames(context, packets)):
        if position % step == 0 and len(out) < ANIMATION_MAX_FRAMES:
            image = Image.fromarray(frame.to_ndarray(format="rgba"))
            image.thumbnail((side, side))
            out.append(image)
    return out


def _decode_container(container: "InputContainer", max_pixels: int) -> DecodedMedia:
    stream = _video_stream(container, max_pixels)
    packets = _video_packets(container, stream)
    # A header without a size (0x0) gets the costliest frame size the decoder will accept.
    frame_pixels = stream.codec_context.width * stream.codec_context.height or max_pixels
    index = representative_index(len(packets), frame_pixels)
    frame = _decode_frame(_open_decoder(stream, max_pixels), packets, index)
    return DecodedMedia("webm", frame, frame.width, frame.height, len(packets))


def _video_stream(container: "InputContainer", max_pixels: int) -> "VideoStream":
    if not container.streams.video:
        raise MediaError("video sticker has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # FFmpeg knows no decoder for the stream's codec id
        raise UnsupportedFormatError("video sticker uses an unknown codec")
    codec = stream.codec_context.codec.canonical_name
    if codec not in _VIDEO_CODECS:
        raise UnsupportedFormatError(f"video sticker codec {codec!r} is not VP8, VP9 or AV1")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > max_pixels:
        raise MediaError(f"video sticker too large ({width}x{height} pixels)")
    if container.duration is not None and container.duration > VIDEO_MAX_SECONDS * 1_000_000:
        raise MediaError(f"video sticker too long (over {VIDEO_MAX_SECONDS:g} s)")
    return stream


def _video_packets(
    container: "InputContainer", stream: "VideoStream"
) -> list["Packet[VideoStream]"]:
    packets: list[Packet[VideoStream]] = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        # The header's duration may be missing or lie: check the timestamps as well.
        if packet.pts is not None and packet.pts * packet.time_base > VIDEO_MAX_SECONDS:
            raise MediaError(f"video sticker too long (over {VIDEO_MAX_SECONDS:g} s)")
        packets.append(packet)
        if len(packets) > VIDEO_MAX_FRAMES:
            raise MediaError(f"video sticker too long (over {VIDEO_MAX_FRAMES} frames)")
    if not packets:
        raise MediaError("video sticker has no frames")
    return packets


def _open_decoder(stream: "VideoStream", max_pixels: int) -> "VideoCodecContext":
    import av

    codec = stream.codec_context.codec
    preferred = _ALPHA_DECODERS.get(codec.canonical_name, codec.name)
    context = av.CodecContext.create(preferred if has_decoder(preferred) else codec.name, "r")
    if not isinstance(context, av.VideoCodecContext):
        raise MediaError(f"video sticker codec {codec.name!r} is not a video codec")
    context.extradata = stream.codec_context.extradata
    context.thread_count = 1  # stickers are small; leave the cores to the rest of the bot
    context.options = {"max_pixels": str(max_pixels)}  # the bitstream's size may differ
    return context


@cache
def has_decoder(name: str) -> bool:
    """Whether this FFmpeg build has the decoder `name` (libvpx-vp9 keeps alpha)."""
    import av

    if name not in av.codecs_available:
        return False
    try:
        av.Codec(name, "r")
    except ValueError:  # an encoder of that name only
        return False
    return True


def _decode_frame(
    context: "VideoCodecContext", packets: Iterable["Packet[VideoStream]"], index: int
) -> Image.Image:
    chosen = None
    for position, frame in enumerate(_frames(context, packets)):
        chosen = frame
        if position == index:
            break
    if chosen is None:
        raise MediaError("video sticker has no decodable frames")
    return Image.fromarray(chosen.to_ndarray(format="rgba"))


def _frames(
    context: "VideoCodecContext", packets: Iterable["Packet[VideoStream]"]
) -> Iterator["VideoFrame"]:
    for packet in packets:
        yield from context.decode(packet)
    yield from context.decode(None)  # drain frames the decoder still holds


if __name__ == "__main__":
    sys.exit(_renderer_main(sys.argv[2:]) if sys.argv[1:2] == ["render-lottie"] else 2)
