// Bone and cartilage meshes of a job in NiiVue's 3D view: drag to rotate, wheel to zoom.
// Bone meshes carry a thickness_mm point-data array (legacy binary VTK); it becomes a colour layer (viridis),
// on bone drawn neutral grey so the scale never reads as a bone's own colour. Cartilage starts hidden: it lies
// on exactly the surface the map colours.
import { Niivue, SLICE_TYPE, NVMeshLayerDefaults } from '/lib/niivue/index.js'; // index.min.js in 0.69 only exports a URL-encoded copy of the module

const marker = 'SCALARS thickness_mm float 1\nLOOKUP_TABLE default\n';

// The thickness_mm values of a binary legacy VTK file, or null when it has none.
async function readThickness(url) {
    const buffer = await (await fetch(url)).arrayBuffer();
    const text = new TextDecoder('latin1').decode(buffer);
    const header = /POINT_DATA (\d+)\n/.exec(text);
    const at = text.indexOf(marker);
    if (!header || at < 0) return null;
    const n = parseInt(header[1], 10);
    const view = new DataView(buffer, at + marker.length, n * 4);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = view.getFloat32(i * 4, false);
    return values;
}

export const thicknessColormap = 'viridis';
const mappedBoneRgba = [205, 205, 205, 255];

// The shape model's reconstruction lies on the femur's surface: drawn plainly, the two fight for the same depth
// and the overlay flickers through as the view turns. NiiVue has no per-mesh depth settings, so the overlay's
// vertex array gets a polygon offset toward the viewer when it is bound. NiiVue's 3D view is orthographic
// (linear depth over about 8x the scene's radius), so these units come to roughly half a millimetre on a knee.
function offsetOverlay(gl, isOverlay) {
    const bind = gl.bindVertexArray.bind(gl);
    gl.bindVertexArray = vao => {
        bind(vao);
        if (vao && isOverlay(vao)) {
            gl.enable(gl.POLYGON_OFFSET_FILL);
            gl.polygonOffset(-2, -40000);
        } else {
            gl.disable(gl.POLYGON_OFFSET_FILL);
        }
    };
}

export async function create(canvas, dotnet, meshes, thicknessMaxMm, nsm) {
    const nv = new Niivue({ backColor: [1, 1, 1, 1], show3Dcrosshair: false, isResizeCanvas: true, logLevel: 'error' });
    const viewer = {
        reset() {
            nv.setRenderAzimuthElevation(110, 15);
            nv.setScale(1);
            nv.drawScene();
        },
        setVisible(index, visible) {
            if (index < nv.meshes.length) {
                nv.setMeshProperty(nv.meshes[index].id, 'visible', visible);
            }
        },
        setNsmVisible(visible) {
            const mesh = nv.meshes.find(m => m.kwNsm);
            if (mesh) nv.setMeshProperty(mesh.id, 'visible', visible);
        },
        setThicknessVisible(visible) {
            for (const mesh of nv.meshes) {
                if (mesh.kwNsm) continue;
                for (const layer of mesh.layers) layer.opacity = visible ? 1 : 0;
                mesh.updateMesh(nv.gl);
            }
            nv.drawScene();
        },
        dispose() {
            nv.gl?.getExtension('WEBGL_lose_context')?.loseContext();
        },
    };
    try {
        await nv.attachToCanvas(canvas);
        nv.setSliceType(SLICE_TYPE.RENDER);
        const list = meshes.map(m => ({ url: m.url, name: m.name, rgba255: m.rgba255 }));
        // The shape model's reconstruction comes last, so mesh i stays structure i for the toggles.
        if (nsm) list.push({ url: nsm.url, name: nsm.name, rgba255: nsm.rgba255 });
        await nv.loadMeshes(list);
        if (nsm && nv.meshes.length === list.length) {
            const overlay = nv.meshes[list.length - 1];
            overlay.kwNsm = true;
            nv.setMeshProperty(overlay.id, 'opacity', nsm.opacity);
            offsetOverlay(nv.gl, vao => vao === overlay.vao);
        }
        for (let i = 0; i < meshes.length && i < nv.meshes.length; i++) {
            if (meshes[i].hidden) nv.setMeshProperty(nv.meshes[i].id, 'visible', false);
        }
    } catch (e) {
        await dotnet.invokeMethodAsync('OnMeshesError', `The meshes could not be shown (${e.message}).`);
        return viewer;
    }

    let coloured = 0;
    for (let i = 0; i < meshes.length && i < nv.meshes.length; i++) {
        if (!meshes[i].isBone || !meshes[i].url.endsWith('.vtk')) continue;
        try {
            const values = await readThickness(meshes[i].url);
            if (!values || values.length !== nv.meshes[i].pts.length / 3) continue;
            // Vertices without cartilage (0 mm) keep the bone's own colour.
            nv.meshes[i].layers.push({
                ...NVMeshLayerDefaults, name: 'thickness_mm', values, colormap: thicknessColormap, opacity: 1,
                cal_min: 0.05, cal_max: thicknessMaxMm, global_min: 0, global_max: thicknessMaxMm,
                isTransparentBelowCalMin: true, colorbarVisible: false, nFrame4D: 1, frame4D: 0, outlineBorder: 0,
            });
            nv.meshes[i].rgba255 = mappedBoneRgba;
            nv.meshes[i].updateMesh(nv.gl);
            coloured++;
        } catch (e) {
            console.warn(`thickness colouring of ${meshes[i].name} failed: ${e.message}`);
        }
    }

    viewer.reset();
    await dotnet.invokeMethodAsync('OnMeshesReady', coloured);
    return viewer;
}
