// The job's MRI with its segmentation overlay in NiiVue: multiplanar, single planes and 3D.
// This module owns the loading and the controls' effect, so both go on while the Blazor circuit is down:
// the files come over plain HTTP (fetch with the sign-in cookie, never the circuit), the progress and a
// failure with its Retry are drawn here into a status element Blazor leaves alone, and the controls
// (rendered by Blazor as MudBlazor components) are listened to here. Blazor keeps only what it shows
// (pressed buttons, numbers) and hears about load outcomes through calls that are retried until the
// circuit is back. The chosen settings are kept in sessionStorage, so a page reloaded after its circuit
// was lost comes back as it was.
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

function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1);
}

/** A load that failed, with the sentence people see. */
class LoadError extends Error {
    constructor(what, message) {
        super(message);
        this.what = what;
    }
}

// The body of a failed response as the API's problem document (code, detail, hint), when it is one.
async function problemText(response) {
    try {
        const problem = await response.json();
        const parts = [problem.code, problem.detail ?? problem.title, problem.hint].filter(p => p);
        return parts.join(': ');
    } catch {
        return response.statusText;
    }
}

// Downloads one file with the sign-in cookie, reporting bytes as they arrive.
async function download(url, what, signal, onBytes) {
    let response;
    try {
        response = await fetch(url, { credentials: 'same-origin', signal });
    } catch (e) {
        if (signal.aborted) throw e;
        throw new LoadError(what, `The ${what} could not be downloaded (network error: ${e.message}).`);
    }
    if (!response.ok) {
        throw new LoadError(what, `The ${what} could not be downloaded (HTTP ${response.status}${await problemText(response).then(t => t ? `, ${t}` : '')}).`);
    }
    const total = Number(response.headers.get('Content-Length')) || 0;
    const reader = response.body.getReader();
    const chunks = [];
    let loaded = 0;
    onBytes(0, total);
    for (;;) {
        let part;
        try {
            part = await reader.read();
        } catch (e) {
            if (signal.aborted) throw e;
            throw new LoadError(what, `The ${what} download broke off after ${megabytes(loaded)} MB (${e.message}).`);
        }
        if (part.done) break;
        chunks.push(part.value);
        loaded += part.value.byteLength;
        onBytes(loaded, total);
    }
    const bytes = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
    return bytes;
}

// gzip is undone by the browser's own stream decoder, off the page's script thread, so a large MRI does not
// stall the page (and with it the live connection) the way NiiVue's in-script inflate does.
async function gunzipIfNeeded(bytes, name) {
    if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || typeof DecompressionStream === 'undefined') {
        return { buffer: bytes.buffer, name };
    }
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    const buffer = await new Response(stream).arrayBuffer();
    return { buffer, name: name.replace(/\.gz$/i, '') };
}

function storageKey(options) {
    return `kw-viewer:${options.imageUrl}`;
}

function loadSettings(options) {
    const defaults = { mode: 'multiplanar', hidden: [], opacity: options.opacity, window: null };
    try {
        const saved = JSON.parse(sessionStorage.getItem(storageKey(options)) ?? 'null');
        return saved ? { ...defaults, ...saved } : defaults;
    } catch {
        return defaults;
    }
}

export function create(root, canvas, status, dotnet, options) {
    const settings = loadSettings(options);
    const hidden = new Set(settings.hidden);
    let nv = null;
    let loaded = false;
    let disposed = false;
    let abort = null;

    const save = () => {
        try {
            sessionStorage.setItem(storageKey(options), JSON.stringify({ ...settings, hidden: [...hidden] }));
        } catch { /* storage full or disabled: settings live as long as the page */ }
    };

    // .NET hears about outcomes. A call made while the circuit is down may fail, or never settle, so each try
    // gets a deadline and the call is made again until one lands (the .NET side takes repeats as no-ops).
    const tryOnce = (method, args) => new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('no answer')), 5000);
        dotnet.invokeMethodAsync(method, ...args).then(
            () => { clearTimeout(deadline); resolve(); },
            e => { clearTimeout(deadline); reject(e); });
    });
    // The arguments are read at each try (a function), so a late call carries the state as it is by then.
    const notify = async (method, args) => {
        for (let attempt = 0; !disposed; attempt++) {
            try {
                await tryOnce(method, typeof args === 'function' ? args() : args);
                return;
            } catch {
                await new Promise(r => setTimeout(r, Math.min(500 * (attempt + 1), 3000)));
            }
        }
    };

    const setStatus = (state, build) => {
        status.dataset.state = state;
        root.dataset.loadState = state;
        status.replaceChildren();
        build?.(status);
    };

    const showProgress = (label, done, total) => setStatus('loading', el => {
        const text = document.createElement('p');
        text.className = 'mud-typography mud-typography-body2';
        text.dataset.testid = 'viewer-progress';
        text.textContent = total > 0
            ? `Loading the ${label}: ${megabytes(done)} of ${megabytes(total)} MB`
            : `Loading the ${label}: ${megabytes(done)} MB`;
        const bar = document.createElement('div');
        bar.className = 'kw-viewer-bar';
        bar.setAttribute('role', 'progressbar');
        bar.setAttribute('aria-label', `Loading the ${label}`);
        const fill = document.createElement('div');
        if (total > 0) {
            const pct = Math.min(100, Math.round(100 * done / total));
            bar.setAttribute('aria-valuenow', String(pct));
            fill.style.width = `${pct}%`;
        } else {
            fill.className = 'kw-viewer-bar-indeterminate';
        }
        bar.append(fill);
        el.append(text, bar);
    });

    const showError = message => setStatus('error', el => {
        const text = document.createElement('p');
        text.className = 'mud-typography mud-typography-body2';
        text.setAttribute('role', 'alert');
        text.dataset.testid = 'viewer-error';
        text.textContent = message;
        // A plain button with MudBlazor's classes: it must work while the circuit is down.
        const retry = document.createElement('button');
        retry.type = 'button';
        retry.className = 'mud-button-root mud-button mud-button-filled mud-button-filled-primary mud-button-filled-size-small mud-ripple';
        retry.dataset.testid = 'viewer-retry';
        retry.innerHTML = '<span class="mud-button-label">Retry</span>';
        retry.addEventListener('click', () => load());
        el.append(text, retry);
    });

    const applyLabels = () => {
        if (!nv || nv.volumes.length < 2) return;
        nv.volumes[1].setColormapLabel(labelColormap(options.labels, hidden));
        nv.updateGLVolume();
    };
    const applyOpacity = () => { if (nv && nv.volumes.length >= 2) nv.setOpacity(1, settings.opacity); };
    const applyMode = () => { if (nv) nv.setSliceType(sliceTypes[settings.mode] ?? SLICE_TYPE.MULTIPLANAR); };
    const applyWindow = () => {
        if (!nv || nv.volumes.length === 0 || !settings.window) return;
        nv.volumes[0].cal_min = settings.window[0];
        nv.volumes[0].cal_max = settings.window[1];
        nv.updateGLVolume();
    };

    const viewer = {
        setLabelVisible(value, visible) {
            if (visible) hidden.delete(value); else hidden.add(value);
            save();
            if (loaded) applyLabels();
        },
        setOpacity(value) {
            settings.opacity = value;
            save();
            if (loaded) applyOpacity();
        },
        setSliceType(name) {
            settings.mode = name;
            save();
            if (loaded) applyMode();
        },
        setWindow(min, max) {
            settings.window = [min, max];
            save();
            if (loaded) applyWindow();
        },
        resetView() {
            if (!loaded) return;
            nv.setDefaults({ ...nv.opts }, true);
            nv.setRenderAzimuthElevation(120, 10);
            nv.drawScene();
        },
        /** What the controls should show (after a reconnect, Blazor may have missed changes). */
        settings() {
            return { mode: settings.mode, hidden: [...hidden], opacity: settings.opacity };
        },
        retry() { return load(); },
        dispose() {
            disposed = true;
            abort?.abort();
            root.removeEventListener('click', onClick);
            root.removeEventListener('change', onChange);
            root.removeEventListener('input', onInput);
            if (nv) {
                nv.onLocationChange = () => { };
                nv.gl?.getExtension('WEBGL_lose_context')?.loseContext();
            }
        },
    };

    // Blazor mirrors the controls; a change it missed while the circuit was down reaches it once the circuit is
    // back. One sync in flight at a time, always sending the latest settings.
    let syncing = false;
    let dirty = false;
    const syncSettings = async () => {
        dirty = true;
        if (syncing) return;
        syncing = true;
        while (dirty && !disposed) {
            dirty = false;
            await notify('OnViewerSettings', () => [viewer.settings()]);
        }
        syncing = false;
    };

    // The controls, heard here rather than through the circuit.
    const onClick = e => {
        const mode = e.target.closest?.('[data-view-mode]');
        if (mode && root.contains(mode)) { viewer.setSliceType(mode.dataset.viewMode); syncSettings(); return; }
        if (e.target.closest?.('[data-view-action=reset]')) viewer.resetView();
    };
    const onChange = e => {
        const t = e.target;
        const label = t.closest?.('[data-label-value]');
        const win = t.closest?.('[data-window]');
        if (label && root.contains(label)) { viewer.setLabelVisible(Number(label.dataset.labelValue), t.checked); syncSettings(); }
        else if (win && root.contains(win)) {
            const v = Number(t.value);
            if (t.value === '' || !Number.isFinite(v)) return;
            const current = settings.window ?? [nv?.volumes[0]?.cal_min ?? 0, nv?.volumes[0]?.cal_max ?? 1];
            viewer.setWindow(win.dataset.window === 'min' ? v : current[0], win.dataset.window === 'max' ? v : current[1]);
        }
    };
    const onInput = e => {
        const slider = e.target.closest?.('[data-viewer-opacity]');
        if (slider && root.contains(slider)) {
            const v = Number(e.target.value);
            if (Number.isFinite(v)) { viewer.setOpacity(Math.min(1, Math.max(0, v))); syncSettings(); }
        }
    };
    root.addEventListener('click', onClick);
    root.addEventListener('change', onChange);
    root.addEventListener('input', onInput);

    async function start() {
        nv = new Niivue({
            backColor: [0, 0, 0, 1],
            show3Dcrosshair: true,
            isResizeCanvas: true,
            multiplanarShowRender: SHOW_RENDER.ALWAYS,
            // Radiological, as a knee MRI is read: the patient's right on screen left. The job page's live preview
            // is laid out the same way (Pipeline/PreviewRendering.cs).
            isRadiologicalConvention: true,
            logLevel: 'error',
        });
        try {
            await nv.attachToCanvas(canvas);
        } catch (e) {
            nv = null;
            throw new LoadError('webgl', `This browser could not start WebGL2 for the viewer (${e.message}).`);
        }
        nv.onLocationChange = location => {
            const values = location.values ?? [];
            const intensity = values.length > 0 ? values[0].value : null;
            const label = values.length > 1 ? Math.round(values[1].value) : null;
            const mm = location.mm ? Array.from(location.mm).slice(0, 3).map(v => Math.round(v * 10) / 10) : [];
            // Only the latest position matters: not retried.
            dotnet.invokeMethodAsync('OnLocation', label, intensity, mm).catch(() => { });
        };
    }

    async function load() {
        abort?.abort();
        abort = new AbortController();
        const signal = abort.signal;
        loaded = false;
        try {
            if (!nv) await start();
            while (nv.volumes.length > 0) nv.removeVolume(nv.volumes[nv.volumes.length - 1]);
            const image = await download(options.imageUrl, 'MRI', signal, (done, total) => showProgress('MRI', done, total));
            let segmentation = null;
            let segmentationMissing = null;
            if (options.segmentationUrl) {
                try {
                    segmentation = await download(options.segmentationUrl, 'segmentation', signal, (done, total) => showProgress('segmentation', done, total));
                } catch (e) {
                    if (!(e instanceof LoadError)) throw e;
                    segmentationMissing = `${e.message} The viewer shows the MRI alone.`;
                }
            }
            setStatus('loading', el => {
                const text = document.createElement('p');
                text.className = 'mud-typography mud-typography-body2';
                text.textContent = 'Preparing the volumes…';
                el.append(text);
            });
            const mri = await gunzipIfNeeded(image, options.imageName);
            try {
                await nv.addVolumeFromUrl({ url: mri.name, name: mri.name, buffer: mri.buffer, colormap: 'gray', opacity: 1 });
                if (segmentation) {
                    const seg = await gunzipIfNeeded(segmentation, options.segmentationName);
                    await nv.addVolumeFromUrl({ url: seg.name, name: seg.name, buffer: seg.buffer, opacity: settings.opacity });
                }
            } catch (e) {
                throw new LoadError('image', `NiiVue could not read the volumes (${e.message}).`);
            }
            if (signal.aborted || disposed) return;
            loaded = true;
            applyLabels();
            applyOpacity();
            applyWindow();
            applyMode();
            setStatus('ready');
            const img = nv.volumes[0];
            await notify('OnViewerReady', () => [img.cal_min, img.cal_max, img.global_min ?? img.cal_min, img.global_max ?? img.cal_max,
                segmentationMissing, viewer.settings()]);
        } catch (e) {
            if (signal.aborted || disposed) return;
            const message = e instanceof LoadError ? e.message : `The viewer failed while loading (${e.message}).`;
            showError(message);
            await notify('OnViewerError', [e.what ?? 'image', message]);
        }
    }

    load();
    return viewer;
}
