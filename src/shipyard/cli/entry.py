"""The `shipyard` executable: an up-to-date `shipyard run` is answered before the CLI loads.

Loading the command framework, the spec models and SQLAlchemy costs more than everything a run
with nothing to do needs, so that case is checked first (services/pipelines/uptodate.py).
"""

from __future__ import annotations

import gc
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if "run" in args[:2]:
        # Start-up (imports, the spec, the graph) makes objects that live as long as the run;
        # the collector would walk them again and again, a quarter of a large run's start-up.
        # The run turns it back on when its loop starts (services/pipelines/pipeline.py).
        gc.disable()
        from shipyard.services.pipelines.uptodate import answer, summary_json

        done = answer(args)
        if done is not None:
            summary, steps_json, as_json = done
            if as_json:
                sys.stdout.write(summary_json(summary, steps_json) + "\n")
            else:
                from shipyard.cli.run_summary import summary_lines

                sys.stdout.write("\n".join(summary_lines(summary)) + "\n")
            if summary["status"] != "success":  # a step the incremental path ran failed
                if not as_json:
                    import json

                    failed = [s["node"] for s in json.loads(steps_json) if s["status"] == "failure"]
                    sys.stderr.write(
                        f"error[run-failed]: run {summary['run_id']} failed: {', '.join(failed)}\n"
                        f"  hint: read a step's log with `shipyard logs {summary['run_id']} JOB`\n"
                    )
                raise SystemExit(1)
            return
    from shipyard.cli.main import run

    run(args)


if __name__ == "__main__":
    main()
