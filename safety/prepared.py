"""Queries of the answer path compiled once per process (issue 10).

A safety round's answer pages run the same few ORM queries hundreds of times a second with
only an id changing. Compiling one (the request with its round, person, unit and current
answer: five tables) was a quarter of the page's CPU (bench/answer_cpu.py; py-spy: the
compiler's ``pre_sql_setup``/``get_select``/``get_related_selections``). ``Prepared`` lets
the ORM compile the query once with a placeholder value, keeps its SQL and the compiler's
description of the columns, and afterwards only executes that SQL with the real value and
builds the instances the way ``ModelIterable`` does (``from_db``, the select_related
populators, the fields' converters): the same rows, the same objects, the same query
counted by the test tools (the connection's own cursor)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections, router
from django.db.models import QuerySet
from django.db.models.query import get_related_populators

PLACEHOLDER = -7_351_912_604  # no real id; found once in the compiled parameters


class Prepared:
    """``Prepared(lambda v: Model.objects.select_related(…).filter(pk=v))``; then
    ``.first(value)``: the first row's instance or None. The query must take ``value`` as its
    only parameter and return model instances (no values(), no annotations, no
    prefetch_related, no deferred fields)."""

    def __init__(self, build: Callable[[int], QuerySet]):
        self._build = build
        self._model = None
        self._compiled: dict[str, tuple] = {}  # database alias -> what a run needs
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> tuple:
        queryset = self._build(PLACEHOLDER).using(alias)
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if list(params) != [PLACEHOLDER] or compiler.annotation_col_map:
            raise ValueError(f"not a one-parameter model query: {sql} {params}")
        select, klass_info = compiler.select, compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        converters = compiler.get_converters([column[0] for column in select])
        return sql, klass_info["model"], start, end, init_list, populators, converters

    def first(self, value: int):
        if self._model is None:
            self._model = self._build(PLACEHOLDER).model
        alias = router.db_for_read(self._model)
        compiled = self._compiled.get(alias)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.setdefault(alias, self._compile(alias))
        sql, model, start, end, init_list, populators, converters = compiled
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, [value])
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = list(row)
            for position, (functions, expression) in converters.items():
                for convert in functions:
                    row[position] = convert(row[position], expression, connection)
        instance = model.from_db(alias, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        return instance
