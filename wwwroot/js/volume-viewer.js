// The job's MRI with its segmentation overlay in NiiVue: multiplanar, single planes and 3D.
// Blazor owns the controls; this module owns the canvas and reports back through a .NET reference.
import { Niivue, SLICE_TYPE, SHOW_RENDER } from '/lib/niivue/index.js'; // index.min.js in 0.69 only exports a URL-encoded copy of the module (`esm`), not the API

const sliceTypes = {
    multiplanar: SLICE_TYPE.MULTIPLANAR,
    axial: SLICE_TYPE.AXIAL,
    coronal: SLICE_TYPE.CORONAL,
    sagittal: SLICE_TYPE.SAGITTAL,
    render: SLICE_TYPE.RENDER,
};

function hexToRgb(hex) {
    const v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// A label colour map over 0..max: hidden labels (and background) get alpha 0.
function labelColormap(labels, hidden) {
    const max = labels.reduce((m, l) => Math.max(m, l.value), 0);
    const cm = { R: [], G: [], B: [], A: [], I: [], labels: [] };
    for (let i = 0; i <= max; i++) {
        const l = labels.find(x => x.value === i);
        const [r, g, b] = l ? hexToRgb(l.hex) : [0, 0, 0];
        cm.R.push(r); cm.G.push(g); cm.B.push(b);
        cm.A.push(l && !hidden.has(i) ? 255 : 0);
        cm.I.push(i);
        cm.labels.push(l ? l.displayName : '');
    }
    return cm;
}

async function probe(url) {
    // A HEAD-like check first, so a missing file becomes a sentence instead of a NiiVue stack trace.
    const response = await fetch(url, { method: 'GET', headers: { Range: 'bytes=0-0' } });
    if (!response.ok) {
        let detail = '';
        try { detail = (await response.json()).detail ?? ''; } catch { /* not a problem document */ }
        throw new Error(`${response.status} ${detail}`.trim());
    }
}

export async function create(canvas, dotnet, options) {
    const hidden = new Set();
    const nv = new Niivue({
        backColor: [0, 0, 0, 1],
        show3Dcrosshair: true,
        isResizeCanvas: true,
        multiplanarShowRender: SHOW_RENDER.ALWAYS,
        logLevel: 'error',
    });
    const viewer = {
        nv,
        setLabelVisible(value, visible) {
            if (visible) hidden.delete(value); else hidden.add(value);
            this.applyLabels();
        },
        applyLabels() {
            if (nv.volumes.length < 2) return;
            nv.volumes[1].setColormapLabel(labelColormap(options.labels, hidden));
            nv.updateGLVolume();
        },
        setOpacity(value) {
            if (nv.volumes.length >= 2) nv.setOpacity(1, value);
        },
        setSliceType(name) {
            nv.setSliceType(sliceTypes[name] ?? SLICE_TYPE.MULTIPLANAR);
        },
        setWindow(min, max) {
            if (nv.volumes.length === 0) return;
            nv.volumes[0].cal_min = min;
            nv.volumes[0].cal_max = max;
            nv.updateGLVolume();
        },
        resetView() {
            nv.setDefaults({ ...nv.opts }, true);
            nv.setRenderAzimuthElevation(120, 10);
            nv.drawScene();
        },
        dispose() {
            nv.onLocationChange = () => { };
            const gl = nv.gl;
            if (gl) gl.getExtension('WEBGL_lose_context')?.loseContext();
        },
    };

    try {
        await nv.attachToCanvas(canvas);
    } catch (e) {
        await dotnet.invokeMethodAsync('OnViewerError', 'webgl', `This browser could not start WebGL2 for the viewer (${e.message}).`);
        return viewer;
    }

    try {
        await probe(options.imageUrl);
    } catch (e) {
        await dotnet.invokeMethodAsync('OnViewerError', 'image', `The MRI for the viewer could not be loaded (${e.message}).`);
        return viewer;
    }

    const volumes = [{ url: options.imageUrl, name: options.imageName, colormap: 'gray', opacity: 1 }];
    let segmentationMissing = null;
    if (options.segmentationUrl) {
        try {
            await probe(options.segmentationUrl);
            volumes.push({ url: options.segmentationUrl, name: options.segmentationName, opacity: options.opacity });
        } catch (e) {
            segmentationMissing = `The segmentation could not be loaded (${e.message}).`;
        }
    }

    nv.onLocationChange = (location) => {
        const values = location.values ?? [];
        const intensity = values.length > 0 ? values[0].value : null;
        const label = values.length > 1 ? Math.round(values[1].value) : null;
        const mm = location.mm ? Array.from(location.mm).slice(0, 3).map(v => Math.round(v * 10) / 10) : [];
        dotnet.invokeMethodAsync('OnLocation', label, intensity, mm);
    };

    try {
        await nv.loadVolumes(volumes);
    } catch (e) {
        await dotnet.invokeMethodAsync('OnViewerError', 'image', `NiiVue could not read the volumes (${e.message}).`);
        return viewer;
    }

    viewer.applyLabels();
    nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
    const img = nv.volumes[0];
    await dotnet.invokeMethodAsync('OnViewerReady', img.cal_min, img.cal_max, img.global_min ?? img.cal_min, img.global_max ?? img.cal_max, segmentationMissing);
    return viewer;
}
