"""Clinical benchmark tasks. Each module here defines one task; see base.py for the contract and the registry."""

from mlxclin.tasks.base import Item, Task, get_task, register_task, task_names

__all__ = ["Item", "Task", "get_task", "register_task", "task_names"]
