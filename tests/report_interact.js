// Drives a loaded vmemu report like a user (tests/report_browser_test.sh appends this to a copy of the
// report). Results go to <body data-vmemu-test="{json}" data-vmemu-test-done="1">; any page
// error still shows up in data-vmemu-errors.
//
// The user actions run synchronously while the page is still loading, because headless
// Chromium's virtual time freezes performance.now() inside tasks after load. Animation frames
// are queued and flushed by hand, so each *Ms value is the page's own work for one event:
// the handler plus the redraw it scheduled. Only the PNG export (canvas.toBlob) is awaited.
(() => {
  const out = {};
  const queue = [];
  window.requestAnimationFrame = (cb) => queue.push(cb);
  const flush = () => { for (let i = 0; i < 4 && queue.length; i++) for (const cb of queue.splice(0)) cb(performance.now()); };
  const timed = (fn) => { const t0 = performance.now(); fn(); flush(); return Math.round((performance.now() - t0) * 10) / 10; };
  const at = (el, fx, dy) => {
    const r = el.getBoundingClientRect();
    return { clientX: r.left + fx * r.width, clientY: r.top + dy, bubbles: true, cancelable: true, button: 0, pointerId: 1 };
  };
  const tip = document.getElementById('tip');
  const tipText = () => (tip.style.display === 'none' ? '(no tooltip)' : tip.textContent.replace(/\n/g, ' | '));
  const blobs = [];
  URL.createObjectURL = (b) => { blobs.push(b); return 'about:blank'; };
  HTMLAnchorElement.prototype.click = function () {};
  const finish = () => {
    out.exports = blobs.map((b) => `${b.type} ${b.size} bytes`);
    document.body.dataset.vmemuTest = JSON.stringify(out);
    document.body.dataset.vmemuTestDone = out.exception ? 'failed' : '1';
  };
  let wantBlobs = 0;
  try {
    const fm = document.getElementById('sec-fm');
    const slider = fm.querySelector('input[type=range]');
    if (slider) {
      const max = Number(slider.max);
      out.seekMs = [0, max, max >> 1, 1, max - 1, max >> 2, max - 2].map((v) =>
        timed(() => { slider.value = String(v); slider.dispatchEvent(new Event('input')); }));
      const cv = fm.querySelector('canvas');
      cv.dispatchEvent(new MouseEvent('mousemove', at(cv, 0.5, cv.getBoundingClientRect().height / 2)));
      out.frameMapTip = tipText();
      const [play, png, svg] = fm.querySelectorAll('button');
      slider.value = '0'; slider.dispatchEvent(new Event('input'));
      play.click();
      out.playFrameMs = [1, 2, 3, 4, 5].map(() => { const t0 = performance.now(); while (performance.now() - t0 < 20); return timed(() => {}); });
      play.click();
      out.afterPlay = fm.querySelector('.tnum').textContent;
      out.svgExportMs = timed(() => svg.click());
      png.click();
      wantBlobs = 2;
    }
    const chart = document.querySelector('#charts canvas.ov');
    if (chart) {
      out.chartHoverMs = timed(() => chart.dispatchEvent(new MouseEvent('mousemove', at(chart, 0.3, 60))));
      out.chartTip = tipText();
      out.chartClickMs = timed(() => chart.dispatchEvent(new MouseEvent('click', at(chart, 0.3, 60))));
      out.afterChartClick = fm.querySelector('.tnum') && fm.querySelector('.tnum').textContent;
    }
    const hist = document.querySelector('#hists canvas.ov');
    if (hist) {
      hist.dispatchEvent(new MouseEvent('mousemove', at(hist, 0.5, 12)));
      out.histTip = tipText();
      document.querySelector('#hists button').click();
      out.ascii = document.querySelector('#hists pre').textContent.split('\n').slice(0, 3);
    }
    const tl = document.querySelector('#sec-tl canvas.ov');
    if (tl) {
      const laneY = 26 + 11;
      out.relayoutAllMs = timed(() => window.dispatchEvent(new Event('resize')));
      out.zoomMs = [];
      for (let i = 0; i < 12; i++) out.zoomMs.push(timed(() => tl.dispatchEvent(new WheelEvent('wheel', { ...at(tl, 0.55, laneY), deltaY: -240 }))));
      out.zoomedRange = document.querySelector('#sec-tl .tnum').textContent;
      for (let f = 0.2; f < 1 && !/fault|kswapd|swap|reclaim/.test(out.timelineTip || ''); f += 0.0025) {
        tl.dispatchEvent(new PointerEvent('pointermove', at(tl, f, laneY)));
        out.timelineTip = tipText();
      }
      out.panMs = timed(() => {
        tl.dispatchEvent(new PointerEvent('pointerdown', at(tl, 0.5, laneY)));
        tl.dispatchEvent(new PointerEvent('pointermove', { ...at(tl, 0.3, laneY), buttons: 1 }));
        tl.dispatchEvent(new PointerEvent('pointerup', at(tl, 0.3, laneY)));
      });
      out.pannedRange = document.querySelector('#sec-tl .tnum').textContent;
      out.zoomOutMs = [];
      for (let i = 0; i < 8; i++) out.zoomOutMs.push(timed(() => tl.dispatchEvent(new WheelEvent('wheel', { ...at(tl, 0.5, laneY), deltaY: 400 }))));
      out.denseHoverMs = timed(() => tl.dispatchEvent(new PointerEvent('pointermove', at(tl, 0.5, laneY))));
      out.denseTip = tipText();
      out.resetMs = timed(() => tl.dispatchEvent(new MouseEvent('dblclick', at(tl, 0.5, laneY))));
      out.resetRange = document.querySelector('#sec-tl .tnum').textContent;
    }
  } catch (e) {
    out.exception = String((e && e.stack) || e);
  }
  // wait (in virtual time) for the asynchronous PNG encoding, then publish
  let waited = 0;
  const poll = () => { if (blobs.length >= wantBlobs || waited++ > 50) finish(); else setTimeout(poll, 100); };
  poll();
})();
