"""Stand-in for ``get_current_statement`` of ``desktop/libs/notebook/src/notebook/sql_utils.py``: which statement
of a multi-statement snippet runs next (Hue's rules: advance when the previous handle has more statements and the
text is unchanged). Statements are split at semicolons outside quotes (Hue also skips comments)."""
import hashlib

from beeswax.design import _split


def get_statements(hql_query, dialect=None):
    return [{'statement': statement} for statement in _split(hql_query)]


def compute_statement_hash(statement):
    return hashlib.sha224(statement.encode()).hexdigest()


def get_current_statement(snippet):
    should_close = False
    handle = snippet['result'].get('handle', {})
    statement_id = handle.get('statement_id', 0)
    statements_count = handle.get('statements_count', 1)

    statements = get_statements(snippet['statement'], snippet.get('dialect'))

    statement_id = min(statement_id, len(statements) - 1)
    previous_statement_hash = compute_statement_hash(statements[statement_id]['statement'])
    non_edited_statement = previous_statement_hash == handle.get('previous_statement_hash') or \
        not handle.get('previous_statement_hash')

    if handle.get('has_more_statements'):
        should_close = True
        if non_edited_statement:
            statement_id += 1
    elif non_edited_statement:
        statement_id = 0

    if statements_count != len(statements):
        statement_id = min(statement_id, len(statements) - 1)

    resp = {
        'statement_id': statement_id,
        'has_more_statements': statement_id < len(statements) - 1,
        'statements_count': len(statements),
        'previous_statement_hash': compute_statement_hash(statements[statement_id]['statement'])
    }
    resp.update(statements[statement_id])
    return should_close, resp
