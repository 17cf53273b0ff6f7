// Bone and cartilage meshes of a job in NiiVue's 3D view: drag to rotate, wheel to zoom.
import { Niivue, SLICE_TYPE } from '/lib/niivue/index.js'; // index.min.js in 0.69 only exports a URL-encoded copy of the module (`esm`), not the API

export async function create(canvas, dotnet, meshes) {
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
        dispose() {
            nv.gl?.getExtension('WEBGL_lose_context')?.loseContext();
        },
    };
    try {
        await nv.attachToCanvas(canvas);
        nv.setSliceType(SLICE_TYPE.RENDER);
        await nv.loadMeshes(meshes.map(m => ({ url: m.url, name: m.name, rgba255: m.rgba255 })));
        viewer.reset();
        await dotnet.invokeMethodAsync('OnMeshesReady');
    } catch (e) {
        await dotnet.invokeMethodAsync('OnMeshesError', `The meshes could not be shown (${e.message}).`);
    }
    return viewer;
}
