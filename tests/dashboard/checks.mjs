// The two browser scripts' way of reporting: one `ok - NAME` / `not ok - NAME` line a check
// (TAP-like, read by tests/web/dashboard.rs), and an exit code that says whether any failed.

const failures = [];

/** Run one named check; a thrown error fails it and the script goes on with the next. */
export async function check(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
  } catch (error) {
    failures.push(name);
    console.log(`not ok - ${name}\n  ${String(error && error.stack ? error.stack : error).replace(/\n/g, '\n  ')}`);
  }
}

/** Say how the checks went and exit 1 when any failed. */
export function finish() {
  console.log(failures.length ? `${failures.length} check(s) failed: ${failures.join('; ')}` : 'all checks passed');
  process.exit(failures.length ? 1 : 0);
}
