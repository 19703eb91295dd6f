// Timings of the map page (performance.now() ms), written by its parts as they happen:
// read by viewer/bench/measure.py and the browser tests as window.cvizPerf (test-handle.js).
export const perf = { hoverLatencies: [], hoverTitleMs: [] };
