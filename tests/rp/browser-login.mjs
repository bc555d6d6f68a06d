// A real browser login through Gantry's pages: headless Chromium (Debian's, never a
// downloaded one) driven by playwright-core. Used as the kubectl plugin's --browser-command.
// usage: node browser-login.mjs URL LOGIN PASSWORD SCREENSHOT.png
import { chromium } from 'playwright-core';

const [url, login, password, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  await page.goto(url);
  await page.fill('#login', login);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#submit-login')]);
  const approve = await page.$('#approve');
  if (approve) await Promise.all([page.waitForLoadState('load'), approve.click()]);
  await page.waitForSelector('text=safe to close', { timeout: 15000 });
  await page.screenshot({ path: shot });
} finally {
  await browser.close();
}
