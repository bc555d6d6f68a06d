// Headless Chromium (Debian's) walks a login across sites until the browser is sent to a URL
// starting with STOP, and prints that URL. On each page it fills a login form if there is one
// and presses the first submit button (Gantry's and oidc-provider's login, consent and approval
// pages all fit). The STOP URL is answered here, so nothing needs to listen there.
// usage: node browser-walk.mjs START_URL STOP_PREFIX LOGIN PASSWORD
import { chromium } from 'playwright-core';

const [start, stop, login, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
let done = null;
try {
  const page = await browser.newPage();
  await page.route((u) => u.href.startsWith(stop), (route) => {
    done = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' });
  });
  await page.goto(start);
  // Pages redirect on their own (provider -> Gantry -> approval): a step that races a
  // navigation is retried on whatever page the browser lands on.
  for (let i = 0; i < 30 && !done; i += 1) {
    try {
      await page.waitForLoadState('load');
      if (done) break;
      const before = page.url();
      // Gantry and oidc-provider name the field `login`, SimpleSAMLphp `username`.
      const user = await page.$('input[name=login]') || await page.$('input[name=username]');
      if (user) {
        await user.fill(login);
        await page.fill('input[name=password]', password);
      }
      const submit = await page.$('button[type=submit]');
      if (!submit) {
        await page.waitForTimeout(100);
        continue;
      }
      await submit.click();
      await page.waitForURL((u) => u.href !== before || done, { timeout: 15000 });
    } catch (e) {
      if (!String(e).includes('context was destroyed') && !String(e).includes('navigat')) throw e;
    }
  }
  if (!done) {
    console.error(`never reached ${stop}; last page ${page.url()}:\n${(await page.content()).slice(0, 2000)}`);
    process.exit(3);
  }
  console.log(done);
} finally {
  await browser.close();
}
