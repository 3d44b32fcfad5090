"""JUnit XML with one testcase per rule, so CI dashboards show rules.

A failed rule holds one ``<failure>`` listing every failure of that rule; a rule that is not
exercised, not applicable or excluded is ``<skipped>`` with its status as the message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from qmcontract.report.model import Report
from qmcontract.report.text import failure_lines


def junit_tree(report: Report) -> ET.ElementTree[ET.Element]:
    """The JUnit document of a report."""
    failed = sum(1 for row in report.rows if row.status == "failed")
    skipped = sum(1 for row in report.rows if row.status not in ("ok", "failed"))
    suites = ET.Element("testsuites", name=report.title)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=report.title,
        tests=str(len(report.rows) + len(report.errors)),
        failures=str(failed),
        errors=str(len(report.errors)),
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="target", value=report.target)
    if report.seed is not None:
        ET.SubElement(properties, "property", name="seed", value=str(report.seed))
    for row in report.rows:
        case = ET.SubElement(suite, "testcase", classname=f"qmcontract.{row.kind}", name=row.rule, time="0")
        if row.status == "failed":
            found = [failure for failure in report.failures if failure.rule == row.rule]
            text = "\n".join(line for failure in found for line in failure_lines(failure))
            element = ET.SubElement(
                case, "failure", message=f"{row.failed} request(s) broke {row.rule}", type=row.rule
            )
            element.text = text
        elif row.status != "ok":
            subs = ", ".join(f"{sub.subcheck}: {sub.status}" for sub in row.subchecks if sub.status != "ok")
            ET.SubElement(case, "skipped", message=f"{row.status} ({subs})")
    for error in report.errors:
        case = ET.SubElement(suite, "testcase", classname="qmcontract.run", name="run")
        ET.SubElement(case, "error", message=error)
    return ET.ElementTree(suites)


def write_junit(report: Report, path: Path) -> None:
    """Write the report as JUnit XML."""
    tree = junit_tree(report)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
