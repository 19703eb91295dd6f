// OpenSeadragon's settings for the map, declared once: OSD_OPTIONS holds every fixed option;
// viewerOptions() adds only what depends on the page (the element, the DZI, its origin, the
// drawer). Nothing else in the viewer passes options to OpenSeadragon.

const deepFreeze = (o) => {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
};

export const OSD_OPTIONS = deepFreeze({
  // Our own zoom buttons (map-loader.js) match the page and spare 16 image requests.
  showNavigationControl: false,
  showNavigator: true,
  navigatorPosition: 'TOP_RIGHT',
  navigatorSizeRatio: 0.15,
  navigatorBackground: '#0e1116',
  navigatorBorderColor: '#2a3140',
  navigatorDisplayRegionColor: '#f5b942',
  viewportMargins: { top: 12, left: 12, right: 12, bottom: 12 },
  visibilityRatio: 0.5,
  maxZoomPixelRatio: 2,
  animationTime: 0.6,
  // Tiles are small (one cell, 128 px), so a screen needs ~100 of them; the default
  // of one new request per frame took ~2.5 s to sharpen the whole view.
  maxTilesPerFrame: 4,
  // Clicking opens the record; zoom is the wheel, double-click and pinch.
  gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
  gestureSettingsTouch: { clickToZoom: false },
  preserveImageSizeOnResize: true,
});

/**
 * The options for one viewer: OSD_OPTIONS plus the map element, the DZI (a URL), and the drawer
 * list (drawerList()). Tiles from another origin than `pageOrigin` (a bucket) load with CORS:
 * WebGL needs CORS-clean images to make textures.
 */
export function viewerOptions({ element, dziUrl, pageOrigin, drawer }) {
  return {
    ...OSD_OPTIONS,
    element,
    tileSources: dziUrl.href,
    crossOriginPolicy: dziUrl.origin === pageOrigin ? false : 'Anonymous',
    drawer,
  };
}

/** The item panel's deep zoom of one IIIF image service (panel-zoom.js): no controls, the image kept in view. */
export const PANEL_ZOOM_OPTIONS = deepFreeze({
  showNavigationControl: false,
  showNavigator: false,
  visibilityRatio: 1,
  maxZoomPixelRatio: 2,
  gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
  // Museum hosts are other origins: the canvas drawer needs CORS-clean images (so would WebGL).
  crossOriginPolicy: 'Anonymous',
  drawer: 'canvas',
});

/** Options for the panel's zoom viewer on `element`, opening the service whose info.json is `infoUrl`. */
export function panelZoomOptions({ element, infoUrl }) {
  return { ...PANEL_ZOOM_OPTIONS, element, tileSources: infoUrl };
}

/**
 * OpenSeadragon drawers to try, in order: `wanted` (config.js or ?drawer=) when it names one;
 * otherwise WebGL on a GPU and the 2D canvas without one. Software WebGL (GPU-less VMs, remote
 * desktops, headless browsers) took ~300 ms a frame here, canvas 2D a few ms.
 */
export function drawerList(wanted, fastWebGL) {
  if (['webgl', 'canvas', 'html'].includes(wanted)) return [wanted, 'canvas'];
  return fastWebGL ? ['webgl', 'canvas', 'html'] : ['canvas', 'html'];
}

/** True when WebGL would run on a real GPU (not a software rasterizer such as SwiftShader). */
export function hasFastWebGL() {
  try {
    const c = document.createElement('canvas');
    // Browsers refuse a context with this flag when they would render WebGL in software.
    const gl = c.getContext('webgl2', { failIfMajorPerformanceCaveat: true })
      || c.getContext('webgl', { failIfMajorPerformanceCaveat: true });
    if (!gl) return false;
    // Chromium's SwiftShader does not trip that flag, so also read the renderer name.
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return !/swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);
  } catch {
    return false;
  }
}

/** The drawer list for this page: ?drawer= first, then config.js's `drawer`, then what the browser runs fast. */
export function drawerChoice() {
  const wanted = new URLSearchParams(window.location.search).get('drawer') || (window.CVIZ_CONFIG || {}).drawer;
  if (['webgl', 'canvas', 'html'].includes(wanted)) return drawerList(wanted, false);
  return drawerList(null, hasFastWebGL());
}
