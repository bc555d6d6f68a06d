// Headless Chromium (Debian's) opens one page with the system in light and in dark mode and
// reports the page's background colour in each, the style sheets it loaded, and any console
// error (a style sheet the page's Content-Security-Policy refused is one).
// usage: node theme-look.mjs URL
// Prints one JSON line: {"light": "rgb(...)", "dark": "rgb(...)", "sheets": [...], "console_errors": [...]}
import { chromium } from 'playwright-core';

const [url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { console_errors: [] };
try {
  const page = await (await browser.newContext()).newPage();
  page.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(m.text()); });
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(url, { waitUntil: 'load' });
    result[scheme] = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  }
  result.sheets = await page.evaluate(() => [...document.styleSheets].map((s) => s.href || 'inline'));
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
