// Headless Chromium (Debian's) looks at the login page and every admin page as a user sees
// them: where the cursor is after a failed login; which navigation link is marked as the
// current page and whether it looks different; whether a page fits a 360 px wide phone screen;
// and the WCAG contrast of text, links, hints, errors and buttons against what is behind them,
// with the system in dark mode and in light mode. Nothing is changed but one refused form.
// usage: node admin-look.mjs ADMIN_URL LOGIN PASSWORD
// Prints one JSON line: {"focus": {...}, "pages": {...}, "contrast": {"dark": {...}, "light": {...}}}
import { chromium } from 'playwright-core';

const [adminUrl, login, password] = process.argv.slice(2);
const PAGES = ['', '/connectors', '/clients', '/users', '/sessions', '/policy', '/keys', '/audit'];
// What a user reads or presses, by kind; each kind is judged by its worst element.
const KINDS = {
  text: 'h1, h2, main p:not(.hint):not(.error), label, th, td, dt, dd',
  link: 'main a:not(.button)',
  hint: '.hint',
  error: '.error',
  primary: 'button:not(.secondary), a.button',
  secondary: 'button.secondary',
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const result = { focus: {}, pages: {}, contrast: { dark: {}, light: {} }, console_errors: [] };

// The worst contrast of each kind on the page as it is now: ratio, colours, and the element.
async function measure(page) {
  return page.evaluate((kinds) => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
    };
    const over = (top, under) => ({
      r: top.r * top.a + under.r * (1 - top.a),
      g: top.g * top.a + under.g * (1 - top.a),
      b: top.b * top.a + under.b * (1 - top.a),
      a: 1,
    });
    // What is painted behind an element: its own background and its ancestors', blended.
    const background = (el) => {
      const layers = [];
      for (let e = el; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0) {
          layers.push(c);
          if (c.a >= 1) break;
        }
      }
      // The body paints the page's background, so something opaque is always found.
      let bg = { r: 255, g: 255, b: 255, a: 1 };
      for (const l of layers.reverse()) bg = over(l, bg);
      return bg;
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const hex = ({ r, g, b }) => `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;
    const out = {};
    for (const [kind, selector] of Object.entries(kinds)) {
      let worst = null;
      for (const el of document.querySelectorAll(selector)) {
        if (!el.getClientRects().length || !el.textContent.trim()) continue;
        const bg = background(el);
        const fg = over(parse(getComputedStyle(el).color), bg);
        const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        const ratio = Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100;
        if (!worst || ratio < worst.ratio) {
          worst = { ratio, fg: hex(fg), bg: hex(bg), what: `${el.tagName.toLowerCase()}${el.className ? `.${el.className}` : ''}: ${el.textContent.trim().slice(0, 40)}` };
        }
      }
      if (worst) out[kind] = worst;
    }
    return out;
  }, KINDS);
}

// Keep the worst of each kind over the pages measured so far.
async function contrast(page, where) {
  for (const scheme of ['dark', 'light']) {
    await page.emulateMedia({ colorScheme: scheme });
    const found = await measure(page);
    for (const [kind, m] of Object.entries(found)) {
      const seen = result.contrast[scheme][kind];
      if (!seen || m.ratio < seen.ratio) result.contrast[scheme][kind] = { ...m, page: where };
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

const focused = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);

try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.type() === 'error') result.console_errors.push(`${m.text()} at ${m.location().url}`); });
  await page.goto(adminUrl);
  if (!(await page.$('input[name=login]'))) {
    await Promise.all([page.waitForLoadState('load'), page.click('a[href*="/auth/local"]')]);
  }
  result.focus.fresh = await focused(page);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', `${password}-wrong`);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  result.focus.after_failure = await focused(page);
  result.focus.error_shown = (await page.$('.error')) !== null;
  result.focus.login_kept = await page.inputValue('input[name=login]');
  await contrast(page, 'login');

  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const approve = await page.$('#approve');
  if (approve) await Promise.all([page.waitForNavigation(), approve.click()]);
  await page.waitForLoadState('load');

  for (const path of PAGES) {
    const name = path.slice(1) || 'overview';
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${adminUrl}${path}`);
    const r = await page.evaluate(() => {
      const links = [...document.querySelectorAll('.admin-nav a')];
      const current = links.filter((a) => a.getAttribute('aria-current') === 'page');
      const other = links.find((a) => !a.hasAttribute('aria-current'));
      const look = (a) => {
        const s = getComputedStyle(a);
        return [s.color, s.backgroundColor, s.fontWeight, s.textDecorationLine, s.borderBottomStyle, s.borderBottomColor].join('|');
      };
      return {
        current: current.map((a) => new URL(a.href).pathname),
        current_looks_different: current.length === 1 && !!other && look(current[0]) !== look(other),
      };
    });
    await contrast(page, name);
    await page.setViewportSize({ width: 360, height: 740 });
    r.narrow = await page.evaluate(() => ({
      page_width: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      // A table wider than the screen scrolls in its own box.
      tables_in_scrollers: [...document.querySelectorAll('table')].every((t) => {
        const box = t.parentElement;
        return ['auto', 'scroll'].includes(getComputedStyle(box).overflowX) && box.clientWidth <= window.innerWidth;
      }),
    }));
    result.pages[name] = r;
  }

  // An error on an admin page: a user that cannot be created.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${adminUrl}/users`);
  await page.fill('#new-user input[name=email]', 'not-an-address');
  await page.fill('#new-user input[name=username]', 'Nobody');
  await page.fill('#new-user input[name=password]', 'a long password');
  await Promise.all([page.waitForLoadState('load'), page.click('#create-user')]);
  await contrast(page, 'users-error');
  // Chromium logs the answers to the failed login (401) and the refused form (400) itself;
  // anything else (a CSP violation, a script error) counts.
  result.console_errors = result.console_errors
    .filter((e) => !/status of 40[01]/.test(e) && !e.includes('favicon'));
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
