"""Verify molecule/seal (testinfra).

side_effect.yml wrote its results to $MOLECULE_EPHEMERAL_DIRECTORY/seal:
idempotence.json, reliability.json, killsteps.json, tamper.json. Tests
without the `host` fixture read those; tests with it look at the guest.
The reliability and kill numbers are printed (molecule runs pytest -s) and
recorded in docs/benchmarks.md.
"""

import hashlib
import json
import os
import pathlib

OUT = pathlib.Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "seal"
SEALED = "/var/log/audit/sealed"


def _load(name):
    return json.loads((OUT / (name + ".json")).read_text())


def _errors(findings):
    return [f for f in findings if f["severity"] == "error"]


# --- sealing is idempotent, the timer's service works --------------------------

def test_second_seal_with_nothing_new_is_unchanged():
    runs = _load("idempotence")
    assert runs["first"]["changed"] is True and runs["first"]["rotated"] is True
    assert runs["first"]["sealed"], runs["first"]
    assert runs["second"]["changed"] is False, runs["second"]
    assert runs["second"]["sealed"] == [] and runs["second"]["rotated"] is False
    assert runs["second"]["head"] == runs["first"]["head"]


def test_timer_service_succeeded_and_timers_were_enabled():
    units = _load("idempotence")["units"]
    service = units["immutable-audit-seal@always.service"]
    assert service["Result"] == "success" and service["ExecMainStatus"] == "0", service
    for timer in ("immutable-audit-seal.timer", "immutable-audit-seal-size.timer"):
        assert units[timer]["UnitFileState"] == "enabled" and units[timer]["ActiveState"] == "active", timer


# --- reliability under load ---------------------------------------------------

def test_reliability_numbers():
    run = _load("reliability")
    print("\nreliability: %(duration_s)s s in all, %(workload_s)s s of workload (stress-ng cpu+vm+io), "
          "%(generated)d writes -> %(expected_events)d events expected, %(events_found)d found "
          "(%(complete)d sequence numbers complete, %(missing)d missing), %(records_found)d records, "
          "%(duplicate_records)d duplicated, %(split_at_rotation)d events split across a rotation; "
          "seals: %(seals_done)d done, %(seals_busy)d busy (timer held the lock), %(seals_failed)d failed; "
          "seal wall time %(seal_seconds)s; %(segments)d sealed logs; rule set re-applied %(reapplies)d times (%(reapplies_changed)d changes) "
          "in %(reapply_window_s)s s; lost %(lost_before)d -> %(lost_after)d" % run)
    assert run["stress_ng_rc"] in (0, -15), run          # ends by its own timeout, or terminated
    # Sealing went on all along: a seal starts 3 s after the previous one
    # ended, so the workload holds at least workload / (slowest seal +
    # interval) of them, whatever the machine's speed (a seal took 5-10 s on
    # last session's loaded TCG guest, 24-44 s with two CI lanes on a slower
    # machine). A sealer that stalls falls below this.
    slowest = run["seal_seconds"]["max"] + run["seal_interval_s"]
    assert run["generated"] > 0 and run["seals_done"] >= int(run["workload_s"] // slowest), run
    # The rule set was re-applied from the controller during the workload
    # (each re-apply is an Ansible round trip: 13 per run before, 2 here).
    assert run["reapplies"] >= 2 and run["reapplies_changed"] == run["reapplies"], run


def test_no_event_lost_and_logging_never_suspended():
    run = _load("reliability")
    assert run["lost_after"] == run["lost_before"], run
    assert run["suspended"] == [], run["suspended"]
    assert run["seals_failed"] == 0, run["seal_errors"]
    assert run["final_seal"] == "done"


def test_every_event_is_in_exactly_one_file():
    run = _load("reliability")
    assert run["missing"] == 0, run["missing_sample"]
    assert run["complete"] == run["generated"]
    assert run["events_found"] >= run["expected_events"]
    assert run["duplicate_records"] == 0


def test_chain_verifies_after_the_run():
    run = _load("reliability")
    assert run["verify_ok"] is True, run["verify_findings"]
    # a serial gap would mean records that never reached the logs
    assert run["verify_findings"] == [], run["verify_findings"]
    assert run["boots"] == 1


# --- a seal killed at every step -----------------------------------------------

def test_seal_killed_at_every_step_converges():
    kills = _load("killsteps")
    print("\nkillsteps: %d kills over the steps %s" % (kills["kills"], " ".join(kills["steps"])))
    assert {"rename", "write_new", "link", "unlink", "append", "add_flags"} <= set(kills["steps"])
    assert kills["kills"] == len(kills["steps"]) + kills["steps"].count("append")
    assert kills["failures"] == [], kills["failures"]
    for case in kills["cases"]:
        assert case["ended"] == "killed" and case["recovered"] and not case["second_run_changed"], case


# --- shipping and pruning (playbooks/seal_ship.yml over SSH) ---------------------

def test_ship_then_prune_by_name_stays_verifiable():
    ship = _load("ship")
    name = ship["pruned"]
    assert ship["still_on_host"] is False
    record = ship["last_record"]
    assert record["type"] == "prune" and record["names"] == [name]
    assert record["reason"] == "molecule/seal retention test"
    assert ship["verify_after"]["ok"] is True and ship["verify_after"]["findings"] == []
    assert name not in [log["name"] for log in ship["verify_after"]["sealed_logs"]]
    # the shipped copy is on the controller, byte for byte what was sealed
    copy = OUT / "shipped" / "sealer"
    assert (copy / name).is_file() and (copy / "MANIFEST.jsonl").is_file()
    # (killsteps left a torn line, accounted for by the `torn` record after it)
    lines = (copy / "MANIFEST.jsonl").read_text().splitlines()
    sealed = [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]
    assert len(sealed) >= len(lines) - 1
    digest = [r["sha256"] for r in sealed if r.get("name") == name][0]
    assert hashlib.sha256((copy / name).read_bytes()).hexdigest() == digest


# --- tampering ----------------------------------------------------------------

def _case(name):
    tamper = _load("tamper")
    index = [c["case"] for c in tamper["cases"]].index(name)
    return tamper["cases"][index]["segment"], tamper["verify"][index]


def _new_errors(name, previous):
    """Findings of this case that the previous case did not have."""
    before = {(f["kind"], f["segment"]) for f in _case(previous)[1]["findings"]}
    return {(f["kind"], f["segment"]) for f in _errors(_case(name)[1]["findings"])} - before


def test_untampered_host_verifies_clean():
    report = _case("none")[1]
    assert report["ok"] is True and report["findings"] == [], report["findings"]


def test_modified_sealed_log_is_named():
    segment, report = _case("modify")
    assert report["ok"] is False
    assert _new_errors("modify", "none") == {("digest_mismatch", segment), ("flag_missing", segment)}


def test_deleted_sealed_log_is_named():
    segment = _case("delete")[0]
    assert _new_errors("delete", "modify") == {("missing", segment)}


def test_truncated_sealed_log_is_named():
    segment = _case("truncate")[0]
    assert ("truncated", segment) in _new_errors("truncate", "delete")


def test_consistent_manifest_rewrite_is_found_only_through_the_stored_head():
    report = _case("rewrite")[1]
    # the rewritten chain is consistent in itself: no error on the host alone
    assert report["ok"] is True and _errors(report["findings"]) == [], report["findings"]
    tamper = _load("tamper")
    check = tamper["head_check"]
    assert check is not None, "verification against the stored head passed"
    kinds = {f["kind"] for f in check["findings"]}
    assert "head_not_found" in kinds, check["findings"]
    deleted = _case("delete")[0]
    assert any(deleted in json.dumps(f) for f in check["findings"]), check["findings"]
    # a failed verification never advances the stored head
    assert tamper["stored_after"] == tamper["stored_before"]


# --- the guest's state ----------------------------------------------------------

def test_flags_only_where_auditd_never_rotates(host):
    lsattr = host.run("lsattr -d /var/log/audit /var/log/audit/audit.log %s %s/MANIFEST.jsonl", SEALED, SEALED)
    assert lsattr.rc == 0, lsattr.stderr
    flags = {line.split()[1]: line.split()[0] for line in lsattr.stdout.splitlines()}
    assert "a" not in flags["/var/log/audit"] and "i" not in flags["/var/log/audit"]
    assert "a" not in flags["/var/log/audit/audit.log"] and "i" not in flags["/var/log/audit/audit.log"]
    assert "a" in flags[SEALED] and "a" in flags[SEALED + "/MANIFEST.jsonl"]


def test_auditd_keeps_logs_and_still_runs(host):
    conf = host.file("/etc/audit/auditd.conf").content_string.lower()
    assert "max_log_file_action = keep_logs" in conf
    assert host.service("auditd").is_running


def test_sealing_script_installed(host):
    for name in ("_seal.py", "_flags.py", "_auditd_conf.py"):
        assert host.file("/usr/local/lib/immutable-audit/" + name).is_file
    sealed = host.file(SEALED)
    assert sealed.is_directory and sealed.user == "root" and sealed.mode == 0o700
