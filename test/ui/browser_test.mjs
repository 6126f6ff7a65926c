// SPDX-License-Identifier: Apache-2.0
// The web UI's pages in headless Chromium against a running ember application (ember-ui-demo).
//
//   node browser_test.mjs BASE_URL SCREENSHOT_DIR APP_PID WORK_DIR
//
// EMBER_UI_TEST_NODE_MODULES names the node_modules holding playwright-core (browser_test.sh
// installs it). Walks Jobs -> the running job (stage DAG) -> one of its stages (task table) ->
// Executors -> Environment -> Storage, checking what each page shows and that the Jobs page
// refreshes itself; saves jobs.png, job.png, stage.png and executors.png in SCREENSHOT_DIR.
// Exits 1 on the first failed check.
import {createRequire} from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const require = createRequire(path.join(process.env.EMBER_UI_TEST_NODE_MODULES, 'playwright-core', 'index.js'));
const {chromium} = require('playwright-core');

const [base, shots, appPid, work] = process.argv.slice(2);
const TIMEOUT = 60_000;
let passed = 0;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  passed++;
  console.log(`ok ${passed} - ${what}`);
}

function appAlive() {
  try {
    process.kill(Number(appPid), 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the REST API lists the application (the demo needs a few seconds to start). */
async function waitForApi() {
  const deadline = Date.now() + 90_000;
  let last = '';
  while (Date.now() < deadline) {
    if (!appAlive()) throw new Error('ember-ui-demo exited before its UI answered');
    try {
      const r = await fetch(`${base}/api/v1/applications`);
      if (r.ok) {
        const apps = await r.json();
        if (apps.length) return apps;
        last = 'no application listed';
      } else {
        last = `HTTP ${r.status}`;
      }
    } catch (e) {
      last = e.message;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`the UI at ${base} did not answer in 90 s (${last})`);
}

async function main() {
  const apps = await waitForApi();
  check(apps[0].name === 'ember-ui-demo', `the REST API lists the application (${apps[0].id})`);

  const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.EMBER_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1280, height: 900},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // Failed requests are the browser's own console lines: a 404 from taskSummary before any task
    // finished is an expected answer, which the page handles. Script errors are not.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console error: ${m.text()}`);
    });
    const noErrors = async (what) => {
      const banner = await page.locator('#banner').textContent();
      check(errors.length === 0 && !(await page.locator('#banner').isVisible()),
        `${what}: no script errors${errors.length ? ` (${errors.join('; ')})` : ''}${banner ? ` (banner: ${banner})` : ''}`);
    };

    // Jobs: a running job, the timeline, and the page refreshing itself.
    await page.goto(`${base}/jobs/`);
    const activeRow = page.locator('#job-table-active tbody tr[data-job-id]').first();
    await activeRow.waitFor();
    const jobId = await activeRow.getAttribute('data-job-id');
    check(/^\d+$/.test(jobId), `Jobs lists running job ${jobId}`);
    check(await page.locator('#timeline-svg .tl-job').count() >= 1, 'the event timeline draws job bars');
    check(await page.locator('#timeline-svg .tl-exec.added').count() >= 2, 'the event timeline shows executors added');
    check((await page.locator('#tabs a.active').textContent()) === 'Jobs', 'the Jobs tab is the active one');
    check((await page.locator('#app-name').textContent()) === 'ember-ui-demo', 'the nav bar names the application');
    await page.screenshot({path: path.join(shots, 'jobs.png'), fullPage: true});
    const before = await page.locator('#job-table-active tbody tr, #job-table-completed tbody tr').allTextContents();
    await page.waitForFunction((b) => {
      const now = [...document.querySelectorAll('#job-table-active tbody tr, #job-table-completed tbody tr')].map((r) => r.textContent);
      return JSON.stringify(now) !== b;
    }, JSON.stringify(before), {timeout: 10_000});
    check(true, 'the Jobs page refreshes by itself while the application runs');
    await noErrors('Jobs');

    // The job: its stage DAG and stage tables.
    await page.locator(`#job-table-active tr[data-job-id="${jobId}"] td a, #job-table-completed tr[data-job-id="${jobId}"] td a`).first().click();
    await page.waitForURL(/\/jobs\/job\/\?id=\d+/);
    await page.locator('#dag-svg .dag-stage').nth(1).waitFor();
    const boxes = await page.locator('#dag-svg .dag-stage').count();
    check(boxes >= 2, `job ${jobId}'s DAG draws ${boxes} stage boxes`);
    check(await page.locator('#dag-svg .dag-edge').count() >= 1, 'the DAG draws an arrow from the map stage to the result stage');
    const stageLink = page.locator('table[id^="stage-table-"] tbody tr[data-stage-id] td a').first();
    await stageLink.waitFor();
    check(true, `job ${jobId}'s page lists its stages`);
    await page.screenshot({path: path.join(shots, 'job.png'), fullPage: true});
    await noErrors('Job');

    // A stage: its task table.
    await stageLink.click();
    await page.waitForURL(/\/stages\/stage\/\?id=\d+&attempt=\d+/);
    const taskRow = page.locator('#task-table tbody tr[data-task-id]').first();
    await taskRow.waitFor();
    const taskId = await taskRow.getAttribute('data-task-id');
    const status = (await taskRow.locator('td').nth(3).textContent()).trim();
    check(/^\d+$/.test(taskId), `the stage's task table has task ${taskId}`);
    check(/^(RUNNING|SUCCESS|FAILED|KILLED|UNKNOWN|GET RESULT)/.test(status), `task ${taskId} shows its status (${status})`);
    check(await page.locator('h3').textContent().then((t) => /^Details for Stage \d+ \(Attempt \d+\)$/.test(t)), 'the stage page names the stage');
    // A stage of the same app with completed tasks shows the summary metrics: wait for one.
    await page.locator('#metrics-table').waitFor({timeout: 30_000});
    check(true, 'the stage page shows the summary metrics table');
    await page.screenshot({path: path.join(shots, 'stage.png'), fullPage: true});
    await noErrors('Stage');

    // Executors: the driver and the two executors.
    await page.goto(`${base}/executors/`);
    await page.locator('#executor-table tr[data-executor-id="driver"]').waitFor();
    const execs = await page.locator('#executor-table tbody tr[data-executor-id]').count();
    check(execs >= 3, `Executors lists the driver and ${execs - 1} executors`);
    await page.screenshot({path: path.join(shots, 'executors.png'), fullPage: true});
    await noErrors('Executors');

    // Environment and Storage.
    await page.goto(`${base}/environment/`);
    await page.locator('#env-table-spark tbody tr').first().waitFor();
    const props = await page.locator('#env-table-spark tbody').textContent();
    check(props.includes('ember.ui.port'), 'Environment lists the Spark properties (ember.ui.port among them)');
    await noErrors('Environment');
    await page.goto(`${base}/storage/`);
    await page.locator('main h3', {hasText: 'Storage'}).waitFor();
    check(true, 'Storage shows');
    await noErrors('Storage');
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, 0 failed`);
}

main().catch((e) => {
  console.error(`not ok - ${e.message}`);
  console.log(`${passed} passed, 1 failed`);
  process.exit(1);
});
