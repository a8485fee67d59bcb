"""The self-contained HTML report: tables, plots (PNG embedded as data: URIs), run configurations and hardware,
and relative links to the per-sample pages.

Nothing is fetched: no scripts, fonts or stylesheets from elsewhere, and a Content-Security-Policy that forbids
every request except data: images, so the file opens offline and a browser has no reason to touch the network.
"""

import base64
import json
import re
from html import escape

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1400px;
       padding: 0 16px; color: #1d1d1f; }
h1 { font-size: 24px; } h2 { font-size: 20px; margin-top: 36px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin-top: 24px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0; }
th, td { border: 1px solid #d0d0d5; padding: 3px 5px; text-align: left; vertical-align: top; white-space: nowrap; }
th { background: #f2f2f5; position: sticky; top: 0; white-space: normal; min-width: 3em; }
td.wrap { white-space: normal; min-width: 6em; max-width: 12em; overflow-wrap: anywhere; }
tr:nth-child(even) td { background: #fafafc; }
td.no { color: #b00020; font-weight: 600; }
p.note { color: #555; font-size: 12.5px; margin: 2px 0; }
p.warning { color: #b00020; font-weight: 600; }
figure { margin: 14px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 12.5px; }
nav a { margin-right: 14px; }
pre { background: #f6f6f8; padding: 8px; font-size: 12px; overflow-x: auto; }
details { margin: 4px 0; }
"""


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cell(text, wraps: bool) -> str:
    css = "no" if text == "NO" else ("wrap" if wraps else "")
    return f'<td class="{css}">{escape(str(text))}</td>' if css else f"<td>{escape(str(text))}</td>"


def table_html(table) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in table.columns)
    wraps = [c in getattr(table, "wrap", ()) for c in table.columns]
    rows = ["<tr>" + "".join(_cell(c, w) for c, w in zip(row, wraps)) + "</tr>" for row in table.rows]
    body = (f'<div class="scroll"><table data-key="{escape(table.key)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>') if table.rows else "<p>(nothing to show)</p>"
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    return f'<h3 id="{anchor(table.key)}">{escape(table.title)}</h3>\n{body}\n{notes}\n'


def plot_html(plot) -> str:
    if plot.png is None:
        return f'<p class="note"><b>{escape(plot.title)}</b>: {escape(plot.note)}</p>\n'
    data = base64.b64encode(plot.png.read_bytes()).decode("ascii")
    caption = escape(plot.title) + (f" — {escape(plot.note)}" if plot.note else "")
    return (f'<figure id="{anchor(plot.key)}"><img alt="{escape(plot.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption} (PNG and SVG in plots/{escape(plot.key)}.*)</figcaption></figure>\n")


def _run_details(run) -> str:
    parts = [f"<details><summary>{escape(run.name)} — {escape(run.task)} · {escape(run.model)} · "
             f"{escape(run.backend)}</summary>",
             f"<p>config.json</p><pre>{escape(json.dumps(run.config, indent=2, ensure_ascii=False))}</pre>"]
    if run.perf:
        parts.append(f"<p>perf.json</p><pre>{escape(json.dumps(run.perf, indent=2, ensure_ascii=False))}</pre>")
    parts.append("</details>")
    return "\n".join(parts)


def report_html(report) -> str:
    nav = " ".join(f'<a href="#{anchor(task)}">{escape(s.title)}</a>' for task, s in report.sections.items())
    if report.checks:
        nav += ' <a href="#published">Published values</a>'
    nav += ' <a href="#runs">Runs and hardware</a>'
    if report.sample_pages:
        nav += ' <a href="#samples">Per-sample outputs</a>'
    body = [f"<h1>{escape(report.title)}</h1>", f"<p>{escape(report.subtitle)}</p>", f"<nav>{nav}</nav>"]
    body += [f'<p class="warning">Warning: {escape(w)}</p>' for w in report.warnings]
    for task, section in report.sections.items():
        body.append(f'<h2 id="{anchor(task)}">{escape(section.title)}</h2>')
        body += [table_html(t) for t in section.tables]
        body += [plot_html(p) for p in section.plots]
    if report.general_plots:
        body.append('<h2 id="speed">Speed, memory and reasoning effort</h2>')
        body += [plot_html(p) for p in report.general_plots]
    checks = [t for t in report.tail_tables if t.key == "published_checks"]
    if checks:
        body.append('<h2 id="published">Published values, reproduced</h2>')
        body += [table_html(t) for t in checks]
    body.append('<h2 id="runs">Runs and hardware</h2>')
    body += [table_html(t) for t in report.tail_tables if t.key != "published_checks"]
    body.append("<h3>Run configurations</h3>")
    body += [_run_details(run) for run in report.runs]
    if report.sample_pages:
        body.append('<h2 id="samples">Per-sample outputs (for error review)</h2><ul>')
        body += [f'<li><a href="{escape(path)}">{escape(label)}</a></li>'
                 for label, path in report.sample_pages.items()]
        body.append("</ul>")
    return page(report.title, "\n".join(body))
