"""ChatActor: one actor per user, keeping the last 10 exchanges of their conversation.

Replies come from a `Responder`. The one here is rule-based and deterministic (tests can
assert on it); plug a real model in by setting `ChatActor.responder` to anything with the
same `reply` method. Every exchange is published as `conversation.updated` on
`conversation-events`, where `events.on_conversation` turns it into analytics.

Messages cross the actor boundary as the pydantic models of models.py (see task_actor.py):
user text is never reinterpreted.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from dapr.actor import Actor, ActorInterface, actormethod

from funchost import actor

from ._publish import publish
from .models import (
    CONVERSATION_EVENTS,
    ChatEntry,
    ChatMessage,
    Conversation,
    ConversationEvent,
)

MAX_EXCHANGES = 10
_STATE_KEY = "history"


class Responder(Protocol):
    """Produces the assistant's reply to `message`, given the conversation so far."""

    async def reply(self, message: str, history: Sequence[ChatEntry]) -> str: ...


class RuleBasedResponder:
    """A deterministic stand-in for a language model."""

    async def reply(self, message: str, history: Sequence[ChatEntry]) -> str:
        exchanges = exchanges_so_far(history)
        text = message.lower()
        if "task" in text:
            return f"I can help with tasks. This is message {exchanges + 1} of our conversation."
        if "help" in text:
            return "I manage tasks: create them, assign them and track their deadlines."
        return f"Understood. I'm tracking our conversation (message #{exchanges + 1})."


def exchanges_so_far(history: Sequence[ChatEntry]) -> int:
    """How many exchanges the conversation had, including those dropped past the last 10."""
    if history and history[-1].exchange:
        return history[-1].exchange
    return sum(1 for entry in history if entry.role == "user")  # entries saved before numbering


class ChatActorInterface(ActorInterface):
    """A `ChatMessage` in, a `ChatEntry` or a `Conversation` out."""

    @actormethod(name="ProcessMessage")
    async def process_message(self, message: ChatMessage) -> ChatEntry: ...

    @actormethod(name="GetHistory")
    async def get_history(self) -> Conversation: ...

    @actormethod(name="ClearHistory")
    async def clear_history(self) -> None: ...


@actor(idle_timeout="1h")
class ChatActor(Actor, ChatActorInterface):
    """Per-user conversation context; the actor id is the user id."""

    responder: ClassVar[Responder] = RuleBasedResponder()

    async def process_message(self, message: ChatMessage) -> ChatEntry:
        """Answer the message, remember the exchange, publish it; return the reply."""
        history = (await self._load()).messages
        content = message.content
        number = exchanges_so_far(history) + 1
        question = ChatEntry(role="user", content=content, timestamp=_now(), exchange=number)
        answer = ChatEntry(
            role="assistant",
            content=await self.responder.reply(content, history),
            timestamp=_now(),
            exchange=number,
        )
        conversation = Conversation(messages=[*history, question, answer][-2 * MAX_EXCHANGES :])
        await self._state_manager.set_state(_STATE_KEY, conversation)
        exchange = ConversationEvent(
            user_id=self.id.id,
            user_message=question,
            assistant_message=answer,
            history_size=len(conversation.messages),
        )
        await publish(CONVERSATION_EVENTS, exchange)
        return answer

    async def get_history(self) -> Conversation:
        return await self._load()

    async def clear_history(self) -> None:
        await self._state_manager.set_state(_STATE_KEY, Conversation())

    async def _load(self) -> Conversation:
        found, document = await self._state_manager.try_get_state(_STATE_KEY)
        if not found:
            return Conversation()
        if isinstance(document, str):  # saved by an earlier version, as a JSON string
            return Conversation.model_validate_json(document)
        return Conversation.model_validate(document)


def _now() -> datetime:
    return datetime.now(UTC)
