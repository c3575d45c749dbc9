"""Errors of the skills.

SkillError
├── UnknownSkill        no skill has this name
├── InvalidArguments    arguments off the skill's schema, or that make no sense (bad coordinates)
├── SkillRefused        a limit or a rule refuses the action (size cap, spawn depth, binary file)
├── SkillUnavailable    what the skill needs is not there (no adb server or device, no engine)
└── ActionFailed        the action ran and failed (a command that exited non-zero)

Security refusals (a path escape, a private address) are ``security.errors.SecurityError`` and
travel as they are; the adapters turn both trees into one clear message.
"""

from __future__ import annotations


class SkillError(Exception):
    """Root of every error a skill raises on purpose; the message is fit to show."""


class UnknownSkill(SkillError):
    pass


class InvalidArguments(SkillError):
    pass


class SkillRefused(SkillError):
    pass


class SkillUnavailable(SkillError):
    pass


class ActionFailed(SkillError):
    pass
