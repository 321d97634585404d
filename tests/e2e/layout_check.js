// What test_all_pages checks on every page, at each screen width (`screen`, in CSS px).
// Returns the problems found, as lines of text.
(screen) => {
  const w = screen, out = [];
  const doc = Math.max(document.documentElement.scrollWidth, window.innerWidth);
  if (doc > w) {
    out.push('document ' + doc + 'px wide on a ' + w + 'px screen');
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > w + 1 && !el.closest('.sr, [hidden]')) {
        const parent = el.parentElement && el.parentElement.getBoundingClientRect();
        if (!parent || parent.right <= w + 1) {
          wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
                    ' right=' + Math.round(r.right));
        }
      }
    }
    out.push('widest: ' + wide.slice(0, 4).join(', '));
  }
  const bar = document.querySelector('header.bar');
  if (bar) {
    for (const a of bar.querySelectorAll('a')) {
      const r = a.getBoundingClientRect();
      if (r.right > w + 1 || r.left < -1) out.push('header link off screen: ' + a.textContent.trim());
    }
    const lang = bar.querySelector('a[href^="/lang"]');
    if (!lang) out.push('no language switch in the header');
    else {
      const r = lang.getBoundingClientRect();
      if (!r.width || r.right > w + 1) out.push('language switch not on screen');
    }
    // One row: a header that wraps eats a fifth of a small screen on every page.
    if (bar.getBoundingClientRect().height > 72) out.push('header wraps: ' + Math.round(bar.getBoundingClientRect().height) + 'px tall');
  }
  // Words standing a character or two per line: a button, tab or badge squeezed narrow.
  for (const el of document.querySelectorAll('.btn, .tabs a, .badge, .count')) {
    const r = el.getBoundingClientRect(), text = el.textContent.trim();
    const tops = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim() || n.parentElement.closest('.sr')) continue;
      const range = document.createRange();
      range.selectNodeContents(n);
      for (const q of range.getClientRects()) if (q.width > 1) tops.push(q.top);
    }
    tops.sort((a, b) => a - b);
    const lines = tops.filter((t, i) => i === 0 || t - tops[i - 1] > 10).length;
    if (r.width && text.length > 1 && lines >= 2 && text.length / lines < 4)
      out.push('squeezed: "' + text.slice(0, 20) + '" is ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  return out.concat(window.__csp || []).map(String);
}
