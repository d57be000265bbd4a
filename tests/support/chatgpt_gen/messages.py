"""JSON shapes of messages and content parts, as the real exports write them.

Shapes follow fixtures/chatgpt/echomine_golden_002_with_images.raw.json and
docs/formats.md, section 3:
`image_asset_pointer` with `metadata.dalle` / `metadata.generation`, the voice-mode
`real_time_user_audio_video_asset_pointer` with its nested pointers, code interpreter's
`metadata.aggregate_result`, and `metadata.attachments` with `mime_type` or `mimeType`.
"""

from __future__ import annotations

from typing import Any


def message(
    message_id: str,
    role: str,
    content: dict[str, Any],
    create_time: float | None,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    recipient: str = "all",
    end_turn: bool | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "author": {"role": role, "name": name, "metadata": {}},
        "create_time": create_time,
        "update_time": None,
        "content": content,
        "status": "finished_successfully",
        "end_turn": end_turn,
        "weight": 1.0,
        "metadata": metadata if metadata is not None else {},
        "recipient": recipient,
        "channel": None,
    }


def text(*parts: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def multimodal(*parts: Any) -> dict[str, Any]:
    return {"content_type": "multimodal_text", "parts": list(parts)}


def code(language: str, body: str) -> dict[str, Any]:
    return {
        "content_type": "code",
        "language": language,
        "response_format_name": None,
        "text": body,
    }


def image_part(
    pointer: str,
    size_bytes: int,
    width: int,
    height: int,
    *,
    dalle: dict[str, Any] | None = None,
    generation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "content_type": "image_asset_pointer",
        "asset_pointer": pointer,
        "size_bytes": size_bytes,
        "width": width,
        "height": height,
        "fovea": None,
        "metadata": {
            "dalle": dalle,
            "gizmo": None,
            "generation": generation,
            "container_pixel_height": None,
            "container_pixel_width": None,
            "emu_omit_glimpse_image": None,
            "emu_patches_override": None,
            "lpe_keep_patch_ijhw": None,
            "sanitized": dalle is None and generation is None,
            "asset_pointer_link": None,
            "watermarked_asset_pointer": None,
        },
    }


def dalle_metadata(gen_id: str, prompt: str, seed: int) -> dict[str, Any]:
    return {
        "gen_id": gen_id,
        "prompt": prompt,
        "seed": seed,
        "parent_gen_id": None,
        "edit_op": None,
        "serialization_title": "DALL-E generation metadata",
    }


def generation_metadata(gen_id: str, width: int, height: int, seed: int) -> dict[str, Any]:
    return {
        "gen_id": gen_id,
        "gen_size": "xlimage",
        "seed": seed,
        "parent_gen_id": None,
        "height": height,
        "width": width,
        "transparent_background": False,
        "serialization_title": "Image Generation metadata",
    }


def attachment(
    file_id: str, name: str, size: int, mime: str, *, camel: bool = False, dims: int = 0
) -> dict[str, Any]:
    """An attachments[] entry; some exports write `mimeType`, others `mime_type`."""
    entry: dict[str, Any] = {"id": file_id, "size": size, "name": name}
    entry["mimeType" if camel else "mime_type"] = mime
    if dims:
        entry["width"] = dims
        entry["height"] = dims * 3 // 4
    return entry


def audio_part(pointer: str, size_bytes: int, start: float, end: float) -> dict[str, Any]:
    return {
        "content_type": "audio_asset_pointer",
        "asset_pointer": pointer,
        "size_bytes": size_bytes,
        "format": "wav",
        "metadata": {
            "start_timestamp": None,
            "end_timestamp": None,
            "pretokenized_vq": None,
            "interruptions": None,
            "original_audio_source": None,
            "transcription": None,
            "word_transcription": None,
            "start": start,
            "end": end,
        },
    }


def realtime_part(
    audio: dict[str, Any],
    video: dict[str, Any] | None,
    frames: list[dict[str, Any]],
    expiry: str,
) -> dict[str, Any]:
    return {
        "content_type": "real_time_user_audio_video_asset_pointer",
        "expiry_datetime": expiry,
        "frames_asset_pointers": frames,
        "video_container_asset_pointer": video,
        "audio_asset_pointer": audio,
        "audio_start_timestamp": 3.5,
    }


def video_part(pointer: str, size_bytes: int) -> dict[str, Any]:
    return {
        "content_type": "video_container_asset_pointer",
        "asset_pointer": pointer,
        "size_bytes": size_bytes,
        "format": "mp4",
        "metadata": {"start_timestamp": None, "end_timestamp": None},
    }


def transcription(words: str, direction: str) -> dict[str, Any]:
    return {
        "content_type": "audio_transcription",
        "text": words,
        "direction": direction,
        "decoding_id": None,
    }


def aggregate_result(
    code_text: str, image_urls: list[str], run_id: str, t: float
) -> dict[str, Any]:
    return {
        "status": "success",
        "run_id": run_id,
        "start_time": t,
        "update_time": t + 2.5,
        "code": code_text,
        "end_time": t + 2.5,
        "final_expression_output": None,
        "in_kernel_exception": None,
        "system_exception": None,
        "messages": [
            {
                "message_type": "image",
                "time": t + 2.4,
                "sender": "server",
                "image_url": url,
                "width": 1000,
                "height": 600,
            }
            for url in image_urls
        ],
        "jupyter_messages": [
            {"msg_type": "status", "parent_header": {"msg_id": run_id}, "content": {}}
        ],
        "timeout_triggered": None,
    }
