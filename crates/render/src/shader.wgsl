// Striatum's primitive renderer: every shape is ray-cast.
//
// For each (camera, drawable) pair the CPU writes one `Entry`: the camera's pose in the
// shape's frame, the shape, and the screen rectangle that bounds the shape's projection. The
// vertex shader turns the rectangle into two triangles; the fragment shader builds the ray
// through the pixel centre from the intrinsics, intersects it with the exact shape (box,
// cylinder or sphere) in the shape's frame, discards misses, and writes the shaded colour,
// the hit's depth along the optical axis (metres) and the matching depth-buffer value.

struct Camera {
    // 1/fx, 1/fy, cx, cy (pixels, OpenCV convention).
    intrinsics: vec4<f32>,
    // NDC depth = x + y / z for optical depth z; z is kept in [near, far] = [z, w].
    depth_map: vec4<f32>,
    light_color: vec4<f32>,
    ambient: vec4<f32>,
}

struct Entry {
    // Rows of shape_from_camera (rotation | translation): the translation is the camera
    // centre in the shape's frame.
    row0: vec4<f32>,
    row1: vec4<f32>,
    row2: vec4<f32>,
    // xyz: box half extents, or (r, r, half height) for a cylinder, (r, r, r) for a sphere;
    // w: checker square side in metres, 0 for none.
    size_checker: vec4<f32>,
    // rgb: linear colour; w unused.
    color: vec4<f32>,
    // xyz: unit vector towards the light, in the shape's frame.
    to_light: vec4<f32>,
    // NDC rectangle (x0, y0, x1, y1) covering the shape's projection.
    rect: vec4<f32>,
}

@group(0) @binding(0) var<uniform> camera: Camera;
@group(0) @binding(1) var<storage, read> entries: array<Entry>;

// Larger than any ray parameter that matters (metres along the optical axis).
const FAR_AWAY: f32 = 1.0e30;

// Everything the fragment shader needs, constant over an entry's rectangle.
struct Varyings {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(flat) row0: vec4<f32>,
    @location(1) @interpolate(flat) row1: vec4<f32>,
    @location(2) @interpolate(flat) row2: vec4<f32>,
    @location(3) @interpolate(flat) size_checker: vec4<f32>,
    @location(4) @interpolate(flat) color: vec3<f32>,
    @location(5) @interpolate(flat) to_light: vec3<f32>,
}

// Vertices 6k..6k+6 are the two triangles of entry k's rectangle. Each kind of shape has its
// own fragment entry point (and pipeline), so shaders never branch on the kind.
@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32) -> Varyings {
    let e = entries[vertex_index / 6u];
    var corners = array<u32, 6>(0u, 1u, 2u, 2u, 1u, 3u);
    let corner = corners[vertex_index % 6u];
    let x = select(e.rect.x, e.rect.z, (corner & 1u) != 0u);
    let y = select(e.rect.y, e.rect.w, (corner & 2u) != 0u);
    var out: Varyings;
    // Depth comes from the fragment shader; 0.5 keeps the rectangle inside the clip volume.
    out.position = vec4<f32>(x, y, 0.5, 1.0);
    out.row0 = e.row0;
    out.row1 = e.row1;
    out.row2 = e.row2;
    out.size_checker = e.size_checker;
    out.color = e.color.rgb;
    out.to_light = e.to_light.xyz;
    return out;
}

// The ray through this fragment's pixel centre (framebuffer position = OpenCV (u, v)), with
// optical z = 1, in the shape's frame: origin o (the camera centre) and direction d.
struct Ray {
    o: vec3<f32>,
    d: vec3<f32>,
}

fn pixel_ray(in: Varyings) -> Ray {
    let k = camera.intrinsics;
    let dc = vec3<f32>((in.position.x - k.z) * k.x, (in.position.y - k.w) * k.y, 1.0);
    let o = vec3<f32>(in.row0.w, in.row1.w, in.row2.w);
    let d = vec3<f32>(dot(in.row0.xyz, dc), dot(in.row1.xyz, dc), dot(in.row2.xyz, dc));
    return Ray(o, d);
}

struct FragmentOut {
    @location(0) color: vec4<f32>,
    @location(1) depth: f32,
    @builtin(frag_depth) ndc_depth: f32,
}

// Shades the hit at ray parameter t (= optical depth) with unit normal n (shape frame), or
// discards it outside [near, far] (misses have t = FAR_AWAY).
fn finish(in: Varyings, ray: Ray, t: f32, n: vec3<f32>) -> FragmentOut {
    if (t < camera.depth_map.z || t > camera.depth_map.w) {
        discard;
    }
    var base = in.color;
    let checker = in.size_checker.w;
    if (checker > 0.0) {
        let p = ray.o + t * ray.d;
        let cell = vec2<i32>(floor(p.xy / checker));
        if (((cell.x + cell.y) & 1) != 0) {
            base = vec3<f32>(1.0);
        }
    }
    let lambert = max(dot(n, in.to_light), 0.0);
    let light = camera.ambient.rgb + lambert * camera.light_color.rgb;
    var out: FragmentOut;
    out.color = vec4<f32>(clamp(base * light, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
    out.depth = t;
    out.ndc_depth = clamp(camera.depth_map.x + camera.depth_map.y / t, 0.0, 1.0);
    return out;
}

// Box [-h, h], slab method. A ray from inside the box (t_near <= 0) is a miss: the faces are
// seen from behind.
@fragment
fn fs_box(in: Varyings) -> FragmentOut {
    let ray = pixel_ray(in);
    let h = in.size_checker.xyz;
    // Keep the direction's components away from 0 so that the slab bounds stay finite.
    let tiny = vec3<f32>(1.0e-20);
    let d = select(ray.d, select(-tiny, tiny, ray.d >= vec3<f32>(0.0)), abs(ray.d) < tiny);
    let inv_d = 1.0 / d;
    let t1 = (-h - ray.o) * inv_d;
    let t2 = (h - ray.o) * inv_d;
    let lo = min(t1, t2);
    let hi = max(t1, t2);
    let t_near = max(max(lo.x, lo.y), lo.z);
    let t_far = min(min(hi.x, hi.y), hi.z);
    var t = FAR_AWAY;
    if (t_near <= t_far && t_near > 0.0) {
        t = t_near;
    }
    // The face entered last is the one hit: its axis has the largest entry parameter.
    let axis = select(select(vec3<f32>(0.0, 0.0, 1.0), vec3<f32>(0.0, 1.0, 0.0), lo.y >= lo.z),
        vec3<f32>(1.0, 0.0, 0.0), lo.x >= lo.y && lo.x >= lo.z);
    let n = -axis * sign(d);
    return finish(in, ray, t, n);
}

// Cylinder of radius r around z, from z = -h to z = h.
@fragment
fn fs_cylinder(in: Varyings) -> FragmentOut {
    let ray = pixel_ray(in);
    let o = ray.o;
    let d = ray.d;
    let r = in.size_checker.x;
    let h = in.size_checker.z;
    var t = FAR_AWAY;
    var n = vec3<f32>(0.0);
    let a = dot(d.xy, d.xy);
    if (a > 0.0) {
        // Closest approach to the axis, then back along the ray to the surface.
        let tc = -dot(o.xy, d.xy) / a;
        let q = o.xy + tc * d.xy;
        let disc = r * r - dot(q, q);
        if (disc >= 0.0) {
            let ts = tc - sqrt(disc / a);
            if (ts > 0.0 && abs(o.z + ts * d.z) <= h) {
                t = ts;
                n = vec3<f32>((o.xy + ts * d.xy) / r, 0.0);
            }
        }
    }
    // The cap facing the eye, if the eye is beyond it.
    if (abs(o.z) > h && d.z != 0.0) {
        let s = sign(o.z);
        let tp = (s * h - o.z) / d.z;
        let p = o.xy + tp * d.xy;
        if (tp > 0.0 && tp < t && dot(p, p) <= r * r) {
            t = tp;
            n = vec3<f32>(0.0, 0.0, s);
        }
    }
    return finish(in, ray, t, n);
}

// Sphere of radius r around the origin.
@fragment
fn fs_sphere(in: Varyings) -> FragmentOut {
    let ray = pixel_ray(in);
    let o = ray.o;
    let d = ray.d;
    let r = in.size_checker.x;
    let a = dot(d, d);
    let tc = -dot(o, d) / a;
    let q = o + tc * d;
    let disc = r * r - dot(q, q);
    var t = FAR_AWAY;
    var n = vec3<f32>(0.0);
    if (disc >= 0.0) {
        let ts = tc - sqrt(disc / a);
        if (ts > 0.0) {
            t = ts;
            n = (o + ts * d) / r;
        }
    }
    return finish(in, ray, t, n);
}
