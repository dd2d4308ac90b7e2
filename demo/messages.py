"""The demo city's two sample messages, so the demo is not empty: the mayor's urgent instruction
to 大阪市災害対策本部 asking for 了解, and the 北区長's reply to it (who also reads and
acknowledges it). Sent through the messaging services after :func:`demo.groups.demo_groups_seed`.

The sample instruction is sent without a chase. A new user opening the demo expects to look
around: the instruction shows who has and has not read and acknowledged it, but nobody is
reminded about it. Chased, its ~150 unanswered members would be reminded at once when
`make run` starts (the instruction is older than the first reminder delay by then) and again
and again, with a reminder e-mail each time, for an instruction nobody will answer. Instructions
that people send in the demo are chased by the group's policy as usual, which is the thing to
try.
"""

from __future__ import annotations

import uuid

from directory.models import Post
from messaging import services as messaging_services
from messaging.models import CommandGroup, Message

from .data import DEMO_ROOT_CODE

# Fixed client ids make the sample messages idempotent (message_send returns the first one).
_MESSAGE_NS = uuid.UUID("6f1c1a52-8a4e-4d39-9d1e-2b4a7c0f5e11")
SAMPLE_INSTRUCTION = (
    "【指示】市内で震度6弱を観測しました。各局・各区は人的被害、建物被害、避難所の開設状況を"
    "15時までに報告してください。了解の返信をお願いします。"
)
SAMPLE_REPLY = (
    "北区：了解しました。区災害対策本部を設置済み。人的被害の報告なし、避難所3か所を開設中。"
)


def demo_messages_seed() -> int:
    """Send the two sample messages in the city HQ; returns how many were new (0 on a second
    run: the fixed client ids find the first ones)."""
    hq = CommandGroup.objects.filter(
        kind=CommandGroup.Kind.HEADQUARTERS, unit__code=DEMO_ROOT_CODE
    ).first()
    holders = {
        p.code: p.holder.user
        for p in Post.objects.filter(
            code__in=[f"{DEMO_ROOT_CODE}-HONBUCHO", f"{DEMO_ROOT_CODE}-W01"]
        ).select_related("holder__user")
    }
    mayor = holders[f"{DEMO_ROOT_CODE}-HONBUCHO"]
    ward_head = holders[f"{DEMO_ROOT_CODE}-W01"]
    instruction = messaging_services.message_send(
        group=hq,
        sender=mayor,
        body=SAMPLE_INSTRUCTION,
        client_id=uuid.uuid5(_MESSAGE_NS, "hq-instruction"),
        kind=Message.Kind.INSTRUCTION,
        priority=Message.Priority.URGENT,
        requires_ack=True,
        escalation={"enabled": False},  # a sample to look at, not to chase (see above)
    )
    reply = messaging_services.message_send(
        group=hq,
        sender=ward_head,
        body=SAMPLE_REPLY,
        client_id=uuid.uuid5(_MESSAGE_NS, "hq-reply"),
        reply_to_id=instruction.message.pk,
    )
    if reply.created:
        messaging_services.receipt_mark_read(user=ward_head, group=hq, up_to_seq=reply.message.seq)
        messaging_services.receipt_acknowledge(user=ward_head, message=instruction.message)
    return int(instruction.created) + int(reply.created)
