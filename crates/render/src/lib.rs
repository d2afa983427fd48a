//! Striatum's headless renderer: tabletop scenes made of primitive shapes (boxes, cylinders,
//! spheres), seen through calibrated pinhole cameras, rendered offscreen with wgpu on Vulkan.
//!
//! Each view gives an RGB image and metric depth along the optical axis. The projection is
//! built exactly from OpenCV-style intrinsics ([`Intrinsics`]), so a pixel of a rendered
//! image sees what the same calibrated real camera would see at that pixel.
//!
//! - **Colour**: the shaded colour is linear (`color * (ambient + max(0, n·l) * light)`,
//!   clamped to [0, 1]) and is stored as it is in an `Rgba8Unorm` target, rounded to 8 bits.
//!   No sRGB encoding is applied anywhere: a drawable with colour 0.4 facing away from the
//!   light under ambient 1.0 gives 102 (0.4 * 255). Apply a transfer curve yourself if you
//!   need display-referred images.
//! - **Shapes are exact**: nothing is tessellated. Each drawable is drawn, per camera, as the
//!   screen rectangle bounding its projection (two triangles); the fragment shader builds the
//!   ray through the pixel centre from the intrinsics, intersects it analytically with the
//!   box, cylinder or sphere in the shape's own frame, and discards misses. Silhouettes,
//!   normals and depth therefore carry no faceting error, and a drawable costs two triangles
//!   plus the pixels of its rectangle whatever its size on screen (a tessellated 48 x 24
//!   sphere is ~2,200 triangles: on lavapipe 30 of them took ~25 ms per 128 x 128 view).
//!   Drawables wholly behind the camera, beyond [`FAR`] or off-screen are skipped on the
//!   CPU.
//! - **Depth**: the fragment shader writes each hit's camera-frame z (metres along the
//!   optical axis; it is the ray parameter, as the ray's direction has z = 1) into an
//!   `R32Float` target next to the colour, and the matching value of the pinhole projection
//!   ([`Intrinsics::clip_from_camera`]) into a `Depth32Float` buffer that resolves
//!   occlusion. Pixels where nothing was hit read [`f32::INFINITY`]. Hits nearer than
//!   [`NEAR`] or farther than [`FAR`] are dropped.
//! - **Background**: black, depth infinity.
//! - **Sampling**: one sample per pixel, at the pixel centre (no anti-aliasing), so images
//!   are exact and reproducible: the same inputs give the same bytes on the same adapter.
//!
//! ```no_run
//! use nalgebra::Isometry3;
//! use striatum_render::{CameraView, Drawable, Intrinsics, Lighting, Primitive, Renderer};
//!
//! let mut renderer = Renderer::new()?;
//! let cube = Drawable {
//!     primitive: Primitive::Box { half_extents: [0.02; 3] },
//!     pose: Isometry3::translation(0.0, 0.0, 0.5),
//!     color: [0.8, 0.1, 0.1],
//!     checker: None,
//! };
//! let camera = CameraView {
//!     name: "front".into(),
//!     intrinsics: Intrinsics { fx: 100.0, fy: 100.0, cx: 64.0, cy: 64.0, width: 128, height: 128 },
//!     world_from_camera: Isometry3::identity(),
//! };
//! let frames = renderer.render(&[cube], &[camera], &Lighting::default())?;
//! assert_eq!(frames[0].rgb.len(), 128 * 128 * 3);
//! # Ok::<(), striatum_render::RenderError>(())
//! ```

use std::collections::HashMap;
use std::sync::mpsc;

use nalgebra::{Isometry3, Matrix4, Point3};

/// Render-target sets (colour, depth value, depth buffer) kept between calls.
pub const MAX_CACHED_TARGETS: usize = 32;

/// Near clipping distance along the optical axis, metres.
pub const NEAR: f64 = 0.01;
/// Far clipping distance along the optical axis, metres.
pub const FAR: f64 = 20.0;

/// What to do on a system without a Vulkan driver.
const VULKAN_HOWTO: &str = "on Debian/Ubuntu install Mesa's CPU driver with \
    `apt-get install mesa-vulkan-drivers libvulkan1` (or run `make bootstrap`), \
    or install your GPU's Vulkan driver";

/// Why rendering could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No Vulkan adapter is available on this machine.
    #[error("no Vulkan adapter found: {VULKAN_HOWTO}")]
    NoAdapter,
    /// The adapter exists but refused to open a device.
    #[error("cannot open a device on the Vulkan adapter {adapter}: {source}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// What wgpu reported.
        #[source]
        source: wgpu::RequestDeviceError,
    },
    /// A camera cannot be rendered (zero size, non-finite or non-positive intrinsics, ...).
    #[error("camera {name:?}: {reason}")]
    BadCamera {
        /// The camera's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A drawable cannot be rendered (non-finite pose, non-positive size, ...).
    #[error("drawable {index} ({kind}): {reason}")]
    BadDrawable {
        /// Its index in the scene slice.
        index: usize,
        /// Its primitive kind.
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The lighting is unusable (zero or non-finite direction, non-finite colours).
    #[error("lighting: {0}")]
    BadLighting(String),
    /// One call asks for more than the adapter's buffer limits allow (too many or too large
    /// views, or too many drawables); split it.
    #[error("{0}")]
    TooLarge(String),
    /// Waiting for the GPU or mapping the read-back buffer failed.
    #[error("reading the rendered images back from the GPU failed: {0}")]
    Map(String),
}

/// A primitive shape in its own frame (centred at the origin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Primitive {
    /// A box with the given half extents along its local x, y and z axes, metres.
    Box {
        /// Half the side lengths, metres.
        half_extents: [f32; 3],
    },
    /// A cylinder whose axis is the local z axis.
    Cylinder {
        /// Radius, metres.
        radius: f32,
        /// Half the length along z, metres.
        half_height: f32,
    },
    /// A sphere.
    Sphere {
        /// Radius, metres.
        radius: f32,
    },
}

impl Primitive {
    /// Lower-case name of the kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Primitive::Box { .. } => "box",
            Primitive::Cylinder { .. } => "cylinder",
            Primitive::Sphere { .. } => "sphere",
        }
    }

    /// Index of the kind's pipeline (0 box, 1 cylinder, 2 sphere).
    fn code(&self) -> u8 {
        match self {
            Primitive::Box { .. } => 0,
            Primitive::Cylinder { .. } => 1,
            Primitive::Sphere { .. } => 2,
        }
    }

    /// Half extents of the shape's bounding box in its own frame; also the sizes the shader
    /// reads (box half extents; r, r, half height; r, r, r).
    pub fn half_extents(&self) -> [f32; 3] {
        match *self {
            Primitive::Box { half_extents } => half_extents,
            Primitive::Cylinder {
                radius,
                half_height,
            } => [radius, radius, half_height],
            Primitive::Sphere { radius } => [radius; 3],
        }
    }
}

/// Something to draw: a primitive at a world pose with a colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawable {
    /// The shape, in its own frame.
    pub primitive: Primitive,
    /// World from shape.
    pub pose: Isometry3<f64>,
    /// Linear RGB in 0..1.
    pub color: [f32; 3],
    /// If `Some(s)`: a checkerboard of squares of side `s` metres alternating `color` and
    /// white, laid out in the shape's local x-y plane (every face shows it, projected along
    /// local z); the square at the origin's positive quadrant is `color`.
    pub checker: Option<f32>,
}

/// Pinhole intrinsics, OpenCV convention: a camera-frame point (x, y, z), z forward, x right,
/// y down, projects to u = fx*x/z + cx, v = fy*y/z + cy, with pixel (i, j) covering
/// [i, i+1) x [j, j+1), so the centre of pixel i is at u = i + 0.5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics {
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point, x, pixels.
    pub cx: f64,
    /// Principal point, y, pixels.
    pub cy: f64,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
}

impl Intrinsics {
    /// Pixel coordinates (u, v) of a camera-frame point, or `None` behind the camera.
    pub fn project(&self, p: &Point3<f64>) -> Option<[f64; 2]> {
        (p.z > 0.0).then(|| [self.fx * p.x / p.z + self.cx, self.fy * p.y / p.z + self.cy])
    }

    /// Clip from camera: the pinhole projection for wgpu's clip space (x right and y up in
    /// [-1, 1], z in [0, 1] from [`NEAR`] to [`FAR`], w = camera z), such that NDC x = 2u/W - 1
    /// and NDC y = 1 - 2v/H for the OpenCV pixel coordinates (u, v) above. The renderer uses
    /// it for the screen rectangles and the depth-buffer values; use it to rasterise overlays
    /// that line up with rendered images.
    pub fn clip_from_camera(&self) -> Matrix4<f64> {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let a = FAR / (FAR - NEAR);
        let b = -NEAR * FAR / (FAR - NEAR);
        #[rustfmt::skip]
        let m = Matrix4::new(
            2.0 * self.fx / w, 0.0, 2.0 * self.cx / w - 1.0, 0.0,
            0.0, -2.0 * self.fy / h, 1.0 - 2.0 * self.cy / h, 0.0,
            0.0, 0.0, a, b,
            0.0, 0.0, 1.0, 0.0,
        );
        m
    }

    fn check(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 {
            return Err(format!(
                "image size {}x{} has a zero side",
                self.width, self.height
            ));
        }
        for (name, v) in [
            ("fx", self.fx),
            ("fy", self.fy),
            ("cx", self.cx),
            ("cy", self.cy),
        ] {
            if !v.is_finite() {
                return Err(format!("intrinsic {name} = {v} is not finite"));
            }
        }
        if self.fx <= 0.0 || self.fy <= 0.0 {
            return Err(format!(
                "focal lengths fx = {}, fy = {} must be positive",
                self.fx, self.fy
            ));
        }
        Ok(())
    }
}

/// One camera to render: a name, intrinsics and its optical frame's pose in the world
/// (world_from_camera; optical frame z forward, x right, y down).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraView {
    /// Name, carried to the [`Frame`] and used in error messages.
    pub name: String,
    /// Pinhole intrinsics and image size.
    pub intrinsics: Intrinsics,
    /// World from the optical frame.
    pub world_from_camera: Isometry3<f64>,
}

impl CameraView {
    /// Pixel coordinates (u, v) of a world point, or `None` behind the camera.
    pub fn project(&self, world: &Point3<f64>) -> Option<[f64; 2]> {
        self.intrinsics
            .project(&self.world_from_camera.inverse_transform_point(world))
    }
}

/// Light: a directional light (direction the light travels, world frame), its
/// colour/intensity, and ambient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Direction the light travels, world frame (need not be normalised).
    pub direction: [f32; 3],
    /// Linear RGB intensity of the directional light.
    pub color: [f32; 3],
    /// Linear RGB ambient term, added everywhere.
    pub ambient: [f32; 3],
}

impl Default for Lighting {
    /// White light from above and in front of the robot (world z up, robot facing +x: the
    /// light travels down and towards +x), intensity 0.7, ambient 0.3: a surface facing the
    /// light shows exactly its colour and nothing saturates.
    fn default() -> Self {
        let d = [0.4f32, 0.2, -1.0];
        let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        Self {
            direction: [d[0] / n, d[1] / n, d[2] / n],
            color: [0.7; 3],
            ambient: [0.3; 3],
        }
    }
}

/// A rendered view.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The camera's name.
    pub name: String,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// RGB8, row-major, no padding (linear colour, see the crate docs).
    pub rgb: Vec<u8>,
    /// Metres along the optical z axis per pixel; [`f32::INFINITY`] where nothing was hit.
    pub depth: Vec<f32>,
}

impl Frame {
    /// The colour of pixel (column `i`, row `j`).
    pub fn rgb_at(&self, i: u32, j: u32) -> [u8; 3] {
        let k = 3 * (j as usize * self.width as usize + i as usize);
        [self.rgb[k], self.rgb[k + 1], self.rgb[k + 2]]
    }

    /// The depth of pixel (column `i`, row `j`), metres along the optical axis.
    pub fn depth_at(&self, i: u32, j: u32) -> f32 {
        self.depth[j as usize * self.width as usize + i as usize]
    }
}

/// Bytes of one camera's uniform block (see `Camera` in the shader).
const CAMERA_UNIFORM_SIZE: u64 = 64;
/// Bytes of one (camera, drawable) entry (see `Entry` in the shader).
const ENTRY_SIZE: u64 = 112;
/// Vertices per entry: the two triangles of its screen rectangle.
const VERTICES_PER_ENTRY: u32 = 6;
const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_VALUE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Float;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The render targets of one view size, reused from call to call.
#[derive(Debug)]
struct Targets {
    color: wgpu::Texture,
    color_view: wgpu::TextureView,
    depth_value: wgpu::Texture,
    depth_value_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
}

/// A buffer that grows (never shrinks) to fit what is written into it.
#[derive(Debug)]
struct GrowBuffer {
    buffer: wgpu::Buffer,
    label: &'static str,
    usage: wgpu::BufferUsages,
}

impl GrowBuffer {
    fn new(device: &wgpu::Device, label: &'static str, usage: wgpu::BufferUsages) -> Self {
        Self {
            buffer: Self::create(device, label, usage, 4096),
            label,
            usage,
        }
    }

    fn create(
        device: &wgpu::Device,
        label: &'static str,
        usage: wgpu::BufferUsages,
        size: u64,
    ) -> wgpu::Buffer {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        })
    }

    /// Makes room for `size` bytes (`size` <= `cap`), growing to a power of two up to `cap`;
    /// returns whether the buffer was replaced.
    fn reserve(&mut self, device: &wgpu::Device, size: u64, cap: u64) -> bool {
        if size <= self.buffer.size() {
            return false;
        }
        let size = size.next_power_of_two().min(cap).max(size);
        self.buffer = Self::create(device, self.label, self.usage, size);
        true
    }
}

/// Where one view's images lie in the read-back buffer.
#[derive(Debug, Clone, Copy)]
struct Readback {
    width: u32,
    height: u32,
    padded_row: u32,
    color_offset: u64,
    depth_offset: u64,
}

/// A headless renderer bound to one GPU device.
///
/// Every call writes the cameras and the (camera, drawable) entries into buffers that are
/// reused, renders all views with one command encoder and one submission (one draw per view
/// and primitive kind present), and reads them back through one mapped buffer. Render targets
/// are cached per image size and reused while the sizes do not change (up to
/// [`MAX_CACHED_TARGETS`] sets; past that, sizes the current call does not use are dropped).
#[derive(Debug)]
pub struct Renderer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// One pipeline per primitive kind (box, cylinder, sphere): same vertex stage, the kind's
    /// ray-casting fragment stage.
    pipelines: [wgpu::RenderPipeline; 3],
    layout: wgpu::BindGroupLayout,
    /// Bytes between consecutive cameras' uniform blocks (the dynamic-offset alignment).
    uniform_stride: u64,
    uniforms: GrowBuffer,
    entries: GrowBuffer,
    bind_group: wgpu::BindGroup,
    readback: GrowBuffer,
    targets: HashMap<(u32, u32), Vec<Targets>>,
}

impl Renderer {
    /// Headless renderer on the first Vulkan adapter (lavapipe on CPU machines, the GPU's
    /// driver elsewhere): discrete GPUs are preferred, then integrated, virtual, CPU and other
    /// adapters, in enumeration order within a kind. With no adapter:
    /// [`RenderError::NoAdapter`], whose message says how to get one.
    pub fn new() -> Result<Self, RenderError> {
        pollster::block_on(Self::new_async())
    }

    async fn new_async() -> Result<Self, RenderError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapters = instance.enumerate_adapters(wgpu::Backends::VULKAN).await;
        let rank = |t: wgpu::DeviceType| match t {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Cpu => 3,
            wgpu::DeviceType::Other => 4,
        };
        // min_by_key keeps the first of equal keys: enumeration order within a kind.
        let adapter = adapters
            .into_iter()
            .min_by_key(|a| rank(a.get_info().device_type))
            .ok_or(RenderError::NoAdapter)?;
        let info = adapter.get_info();
        let limits = wgpu::Limits::downlevel_defaults()
            .using_resolution(adapter.limits())
            .using_alignment(adapter.limits());
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("striatum-render"),
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|source| RenderError::RequestDevice {
                adapter: info.name.clone(),
                source,
            })?;
        Ok(Self::with_device(device, queue, info))
    }

    fn with_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("striatum-render shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("shader.wgsl").into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("striatum-render bindings"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: wgpu::BufferSize::new(CAMERA_UNIFORM_SIZE),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(ENTRY_SIZE),
                    },
                    count: None,
                },
            ],
        });
        let pipelines = ["fs_box", "fs_cylinder", "fs_sphere"]
            .map(|entry| create_pipeline(&device, &layout, &shader, entry));

        let align = u64::from(device.limits().min_uniform_buffer_offset_alignment).max(1);
        let uniform_stride = CAMERA_UNIFORM_SIZE.div_ceil(align) * align;
        let uniforms = GrowBuffer::new(
            &device,
            "striatum-render cameras",
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let entries = GrowBuffer::new(
            &device,
            "striatum-render entries",
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let bind_group = bind_group(&device, &layout, &uniforms.buffer, &entries.buffer);
        let readback = GrowBuffer::new(
            &device,
            "striatum-render readback",
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        Self {
            device,
            queue,
            info,
            pipelines,
            layout,
            uniform_stride,
            uniforms,
            entries,
            bind_group,
            readback,
            targets: HashMap::new(),
        }
    }

    /// Adapter name and backend, for logs.
    pub fn adapter_info(&self) -> String {
        let i = &self.info;
        let mut s = format!("{} ({:?}, {:?}", i.name, i.backend, i.device_type);
        if !i.driver.is_empty() {
            s.push_str(&format!(", {} {}", i.driver, i.driver_info));
        }
        s.push(')');
        s
    }

    /// Renders every camera; returns frames in camera order. Same inputs -> same bytes on the
    /// same adapter.
    pub fn render(
        &mut self,
        scene: &[Drawable],
        cameras: &[CameraView],
        lighting: &Lighting,
    ) -> Result<Vec<Frame>, RenderError> {
        let max_side = self.device.limits().max_texture_dimension_2d;
        // Validate everything before touching the GPU: a bad call changes nothing.
        for c in cameras {
            c.intrinsics
                .check()
                .and_then(|()| check_camera_pose(c, max_side))
                .map_err(|reason| RenderError::BadCamera {
                    name: c.name.clone(),
                    reason,
                })?;
        }
        for (index, d) in scene.iter().enumerate() {
            check_drawable(d).map_err(|reason| RenderError::BadDrawable {
                index,
                kind: d.primitive.kind(),
                reason,
            })?;
        }
        let light = light_terms(lighting).map_err(RenderError::BadLighting)?;
        if cameras.is_empty() {
            return Ok(Vec::new());
        }

        // Entries: camera by camera and kind by kind (one draw each), the drawables the camera
        // may see, in scene order.
        let light_to = light.0;
        let mut entry_bytes = Vec::with_capacity(cameras.len() * scene.len() * ENTRY_SIZE as usize);
        let mut entry_ranges = Vec::with_capacity(cameras.len());
        let mut placed = Vec::with_capacity(scene.len());
        for c in cameras {
            placed.clear();
            placed.extend(scene.iter().filter_map(|d| Placed::new(c, d)));
            let mut ranges: [std::ops::Range<u32>; 3] = Default::default();
            for (kind, range) in ranges.iter_mut().enumerate() {
                let start = (entry_bytes.len() as u64 / ENTRY_SIZE) as u32;
                for p in placed
                    .iter()
                    .filter(|p| usize::from(p.drawable.primitive.code()) == kind)
                {
                    p.push(&mut entry_bytes, light_to);
                }
                *range = start..(entry_bytes.len() as u64 / ENTRY_SIZE) as u32;
            }
            entry_ranges.push(ranges);
        }
        let limits = self.device.limits();
        if entry_bytes.len() as u64 > limits.max_storage_buffer_binding_size {
            return Err(RenderError::TooLarge(format!(
                "{} drawables seen by {} cameras need {} bytes of per-view data, more than the \
                 adapter's limit of {} bytes: render fewer drawables or views per call",
                scene.len(),
                cameras.len(),
                entry_bytes.len(),
                limits.max_storage_buffer_binding_size
            )));
        }
        // Read-back layout: per view, colour then depth, rows padded to 256 bytes.
        let mut layout = Vec::with_capacity(cameras.len());
        let mut total = 0u64;
        for c in cameras {
            let (width, height) = (c.intrinsics.width, c.intrinsics.height);
            let padded_row = (4 * width).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
            let image = u64::from(padded_row) * u64::from(height);
            layout.push(Readback {
                width,
                height,
                padded_row,
                color_offset: total,
                depth_offset: total + image,
            });
            total += 2 * image;
        }
        if total > limits.max_buffer_size {
            return Err(RenderError::TooLarge(format!(
                "{} views need {total} bytes of read-back, more than the adapter's limit of {} \
                 bytes: render fewer or smaller views per call",
                cameras.len(),
                limits.max_buffer_size
            )));
        }
        let mut rebind = false;
        if !entry_bytes.is_empty() {
            rebind |= self.entries.reserve(
                &self.device,
                entry_bytes.len() as u64,
                limits.max_storage_buffer_binding_size,
            );
            self.queue
                .write_buffer(&self.entries.buffer, 0, &entry_bytes);
        }

        // One uniform block per camera, at dynamic offsets.
        let mut uniform_bytes = Vec::with_capacity(cameras.len() * self.uniform_stride as usize);
        for c in cameras {
            uniform_bytes.resize(
                uniform_bytes
                    .len()
                    .next_multiple_of(self.uniform_stride as usize),
                0,
            );
            push_camera(&mut uniform_bytes, c, &light);
        }
        rebind |= self.uniforms.reserve(
            &self.device,
            uniform_bytes.len() as u64,
            limits.max_buffer_size,
        );
        if rebind {
            self.bind_group = bind_group(
                &self.device,
                &self.layout,
                &self.uniforms.buffer,
                &self.entries.buffer,
            );
        }
        self.queue
            .write_buffer(&self.uniforms.buffer, 0, &uniform_bytes);

        // Render targets, k-th camera of a size -> k-th cached target set of that size.
        let mut slots = Vec::with_capacity(cameras.len());
        let mut used: HashMap<(u32, u32), usize> = HashMap::new();
        for c in cameras {
            let size = (c.intrinsics.width, c.intrinsics.height);
            let k = used.entry(size).or_insert(0);
            let pool = self.targets.entry(size).or_default();
            if pool.len() == *k {
                pool.push(create_targets(&self.device, size.0, size.1));
            }
            slots.push((size, *k));
            *k += 1;
        }
        if self.targets.values().map(Vec::len).sum::<usize>() > MAX_CACHED_TARGETS {
            self.targets.retain(|size, _| used.contains_key(size));
        }

        self.readback
            .reserve(&self.device, total, limits.max_buffer_size);

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("striatum-render"),
            });
        for (index, ((slot, rb), entries)) in
            slots.iter().zip(&layout).zip(&entry_ranges).enumerate()
        {
            let Some(t) = self.targets.get(&slot.0).and_then(|p| p.get(slot.1)) else {
                continue; // Unreachable: every slot was filled above.
            };
            {
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("striatum-render view"),
                    color_attachments: &[
                        Some(wgpu::RenderPassColorAttachment {
                            view: &t.color_view,
                            depth_slice: None,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                                store: wgpu::StoreOp::Store,
                            },
                        }),
                        Some(wgpu::RenderPassColorAttachment {
                            view: &t.depth_value_view,
                            depth_slice: None,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                // 0 marks "nothing drawn"; read back as infinity.
                                load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                                store: wgpu::StoreOp::Store,
                            },
                        }),
                    ],
                    depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                        view: &t.depth_view,
                        depth_ops: Some(wgpu::Operations {
                            load: wgpu::LoadOp::Clear(1.0),
                            store: wgpu::StoreOp::Discard,
                        }),
                        stencil_ops: None,
                    }),
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                });
                let offset = (index as u64 * self.uniform_stride) as u32;
                pass.set_bind_group(0, &self.bind_group, &[offset]);
                for (pipeline, range) in self.pipelines.iter().zip(entries) {
                    if !range.is_empty() {
                        pass.set_pipeline(pipeline);
                        pass.draw(
                            range.start * VERTICES_PER_ENTRY..range.end * VERTICES_PER_ENTRY,
                            0..1,
                        );
                    }
                }
            }
            let extent = wgpu::Extent3d {
                width: rb.width,
                height: rb.height,
                depth_or_array_layers: 1,
            };
            for (texture, offset) in [
                (&t.color, rb.color_offset),
                (&t.depth_value, rb.depth_offset),
            ] {
                encoder.copy_texture_to_buffer(
                    wgpu::TexelCopyTextureInfo {
                        texture,
                        mip_level: 0,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                    },
                    wgpu::TexelCopyBufferInfo {
                        buffer: &self.readback.buffer,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset,
                            bytes_per_row: Some(rb.padded_row),
                            rows_per_image: Some(rb.height),
                        },
                    },
                    extent,
                );
            }
        }
        let submission = self.queue.submit([encoder.finish()]);

        let slice = self.readback.buffer.slice(..total);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            // The receiver outlives the poll below; a send error cannot happen.
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| RenderError::Map(format!("waiting for the GPU: {e}")))?;
        match rx.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(RenderError::Map(format!("mapping the buffer: {e}"))),
            Err(_) => {
                return Err(RenderError::Map(
                    "the buffer was not mapped after the GPU finished".into(),
                ));
            }
        }
        let frames = {
            let data = slice
                .get_mapped_range()
                .map_err(|e| RenderError::Map(format!("reading the mapped buffer: {e}")))?;
            cameras
                .iter()
                .zip(&layout)
                .map(|(c, rb)| unpack(&data, &c.name, rb))
                .collect()
        };
        self.readback.buffer.unmap();
        Ok(frames)
    }
}

/// A pipeline: screen rectangles in; colour, optical depth and depth-buffer values out, from
/// the ray-casting fragment entry point `fragment_entry`.
fn create_pipeline(
    device: &wgpu::Device,
    bindings: &wgpu::BindGroupLayout,
    shader: &wgpu::ShaderModule,
    fragment_entry: &str,
) -> wgpu::RenderPipeline {
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("striatum-render"),
        bind_group_layouts: &[Some(bindings)],
        immediate_size: 0,
    });
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(fragment_entry),
        layout: Some(&layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some("vs_main"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            // Rectangles have no outside; the fragment shader decides what is hit.
            cull_mode: None,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::Less),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some(fragment_entry),
            compilation_options: Default::default(),
            targets: &[Some(COLOR_FORMAT.into()), Some(DEPTH_VALUE_FORMAT.into())],
        }),
        multiview_mask: None,
        cache: None,
    })
}

fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    uniforms: &wgpu::Buffer,
    entries: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("striatum-render bindings"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: uniforms,
                    offset: 0,
                    size: wgpu::BufferSize::new(CAMERA_UNIFORM_SIZE),
                }),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: entries.as_entire_binding(),
            },
        ],
    })
}

fn create_targets(device: &wgpu::Device, width: u32, height: u32) -> Targets {
    let texture = |label: &'static str, format, usage| {
        device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage,
            view_formats: &[],
        })
    };
    let readable = wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC;
    let color = texture("striatum-render colour", COLOR_FORMAT, readable);
    let depth_value = texture("striatum-render depth value", DEPTH_VALUE_FORMAT, readable);
    let depth = texture(
        "striatum-render depth buffer",
        DEPTH_FORMAT,
        wgpu::TextureUsages::RENDER_ATTACHMENT,
    );
    Targets {
        color_view: color.create_view(&Default::default()),
        depth_value_view: depth_value.create_view(&Default::default()),
        depth_view: depth.create_view(&Default::default()),
        color,
        depth_value,
    }
}

/// Copies one view out of the mapped read-back buffer, dropping row padding and alpha.
fn unpack(data: &[u8], name: &str, rb: &Readback) -> Frame {
    let (w, h) = (rb.width as usize, rb.height as usize);
    let row = rb.padded_row as usize;
    let mut rgb = vec![0u8; 3 * w * h];
    let mut depth = vec![0f32; w * h];
    for (j, (rgb_row, depth_row)) in rgb
        .chunks_exact_mut(3 * w)
        .zip(depth.chunks_exact_mut(w))
        .enumerate()
    {
        let c0 = rb.color_offset as usize + j * row;
        for (out, px) in rgb_row
            .chunks_exact_mut(3)
            .zip(data[c0..c0 + 4 * w].chunks_exact(4))
        {
            out.copy_from_slice(&px[..3]);
        }
        let d0 = rb.depth_offset as usize + j * row;
        for (out, b) in depth_row
            .iter_mut()
            .zip(data[d0..d0 + 4 * w].chunks_exact(4))
        {
            let z = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            // The depth target is cleared to 0 and every drawn surface is beyond NEAR.
            *out = if z > 0.0 { z } else { f32::INFINITY };
        }
    }
    Frame {
        name: name.to_owned(),
        width: rb.width,
        height: rb.height,
        rgb,
        depth,
    }
}

fn check_camera_pose(c: &CameraView, max_side: u32) -> Result<(), String> {
    let i = &c.intrinsics;
    if i.width > max_side || i.height > max_side {
        return Err(format!(
            "image size {}x{} exceeds the adapter's limit of {max_side} pixels a side",
            i.width, i.height
        ));
    }
    let p = &c.world_from_camera;
    let finite = p.translation.vector.iter().all(|v| v.is_finite())
        && p.rotation.coords.iter().all(|v| v.is_finite());
    if !finite {
        return Err("world_from_camera is not finite".into());
    }
    Ok(())
}

fn check_drawable(d: &Drawable) -> Result<(), String> {
    let p = &d.pose;
    let finite = p.translation.vector.iter().all(|v| v.is_finite())
        && p.rotation.coords.iter().all(|v| v.is_finite());
    if !finite {
        return Err("pose is not finite".into());
    }
    let scale = d.primitive.half_extents();
    if !scale.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(format!(
            "sizes must be positive and finite: {:?}",
            d.primitive
        ));
    }
    if !d.color.iter().all(|c| c.is_finite()) {
        return Err(format!("colour {:?} is not finite", d.color));
    }
    if let Some(s) = d.checker
        && !(s.is_finite() && s > 0.0)
    {
        return Err(format!(
            "checker square size {s} must be positive and finite"
        ));
    }
    Ok(())
}

/// The shader's light terms: (to_light unit vector, light colour, ambient).
type LightTerms = ([f32; 3], [f32; 3], [f32; 3]);

fn light_terms(l: &Lighting) -> Result<LightTerms, String> {
    let all_finite = l
        .direction
        .iter()
        .chain(&l.color)
        .chain(&l.ambient)
        .all(|v| v.is_finite());
    if !all_finite {
        return Err(format!("values must be finite: {l:?}"));
    }
    let d = l.direction.map(f64::from);
    let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    if n < 1e-9 {
        return Err("the light direction has zero length".into());
    }
    Ok((d.map(|v| (-v / n) as f32), l.color, l.ambient))
}

fn push_f32s(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend_from_slice(&v.to_ne_bytes());
    }
}

/// The NDC rectangle (x0, y0, x1, y1) covering the projection of a box of half extents `h`
/// placed at `camera_from_shape`, or `None` when the camera cannot see any of it.
fn screen_rect(
    k: &Intrinsics,
    camera_from_shape: &Isometry3<f64>,
    h: [f32; 3],
) -> Option<[f64; 4]> {
    let clip_from_camera = k.clip_from_camera();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    let (mut in_front, mut nearest) = (0, f64::INFINITY);
    for corner in 0..8 {
        let sign = |bit: i32| if corner & bit == 0 { -1.0 } else { 1.0 };
        let p = camera_from_shape
            * Point3::new(
                sign(1) * f64::from(h[0]),
                sign(2) * f64::from(h[1]),
                sign(4) * f64::from(h[2]),
            );
        nearest = nearest.min(p.z);
        if p.z < NEAR {
            continue;
        }
        in_front += 1;
        let clip = clip_from_camera * p.to_homogeneous();
        for axis in 0..2 {
            let ndc = clip[axis] / clip.w;
            lo[axis] = lo[axis].min(ndc);
            hi[axis] = hi[axis].max(ndc);
        }
    }
    if in_front == 0 || nearest > FAR {
        return None;
    }
    if in_front < 8 {
        // The box crosses the near plane: its projection is unbounded.
        return Some([-1.0, -1.0, 1.0, 1.0]);
    }
    // One pixel of margin against rounding (the rectangle only bounds the work).
    let margin = [2.0 / f64::from(k.width), 2.0 / f64::from(k.height)];
    let (x0, x1) = ((lo[0] - margin[0]).max(-1.0), (hi[0] + margin[0]).min(1.0));
    let (y0, y1) = ((lo[1] - margin[1]).max(-1.0), (hi[1] + margin[1]).min(1.0));
    (x0 < x1 && y0 < y1).then_some([x0, y0, x1, y1])
}

/// A drawable as one camera sees it: where it is and which part of the screen it may cover.
#[derive(Debug, Clone, Copy)]
struct Placed<'a> {
    drawable: &'a Drawable,
    camera_from_shape: Isometry3<f64>,
    /// NDC rectangle (x0, y0, x1, y1) covering the projection.
    rect: [f64; 4],
}

impl<'a> Placed<'a> {
    /// `d` as camera `c` sees it, or `None` when the camera cannot see it.
    fn new(c: &CameraView, d: &'a Drawable) -> Option<Self> {
        let camera_from_shape = c.world_from_camera.inverse() * d.pose;
        let h = d.primitive.half_extents();
        let rect = screen_rect(&c.intrinsics, &camera_from_shape, h)?;
        Some(Self {
            drawable: d,
            camera_from_shape,
            rect,
        })
    }

    /// Appends the entry (see `Entry` in the shader).
    fn push(&self, out: &mut Vec<u8>, to_light_world: [f32; 3]) {
        let d = self.drawable;
        let shape_from_camera = self.camera_from_shape.inverse().to_homogeneous();
        for r in 0..3 {
            let row = [0, 1, 2, 3].map(|k| shape_from_camera[(r, k)] as f32);
            push_f32s(out, &row);
        }
        let h = d.primitive.half_extents();
        push_f32s(out, &[h[0], h[1], h[2], d.checker.unwrap_or(0.0)]);
        push_f32s(out, &[d.color[0], d.color[1], d.color[2], 0.0]);
        let to_light = nalgebra::Vector3::from(to_light_world.map(f64::from));
        let l = d.pose.rotation.inverse_transform_vector(&to_light);
        push_f32s(out, &[l.x as f32, l.y as f32, l.z as f32, 0.0]);
        push_f32s(out, &self.rect.map(|v| v as f32));
    }
}

/// Appends one camera's uniform block (see `Camera` in the shader).
fn push_camera(out: &mut Vec<u8>, c: &CameraView, light: &LightTerms) {
    let k = &c.intrinsics;
    push_f32s(out, &[1.0 / k.fx, 1.0 / k.fy, k.cx, k.cy].map(|v| v as f32));
    // NDC depth of optical depth z is m22 + m23 / z (the projection's third row).
    let m = k.clip_from_camera();
    let depth_map = [m[(2, 2)], m[(2, 3)], NEAR, FAR];
    push_f32s(out, &depth_map.map(|v| v as f32));
    let (_, color, ambient) = light;
    push_f32s(out, &[color[0], color[1], color[2], 0.0]);
    push_f32s(out, &[ambient[0], ambient[1], ambient[2], 0.0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Vector3, Vector4};

    fn intrinsics() -> Intrinsics {
        Intrinsics {
            fx: 120.0,
            fy: 110.0,
            cx: 60.5,
            cy: 70.25,
            width: 128,
            height: 96,
        }
    }

    #[test]
    fn clip_matrix_matches_opencv_pixels_and_depth_range() {
        let k = intrinsics();
        let m = k.clip_from_camera();
        for p in [
            Point3::new(0.1, -0.05, 0.7),
            Point3::new(-0.2, 0.3, 1.9),
            Point3::new(0.0, 0.0, NEAR),
            Point3::new(0.5, 0.5, FAR),
        ] {
            let clip = m * Vector4::new(p.x, p.y, p.z, 1.0);
            let ndc = clip.xyz() / clip.w;
            let u = (ndc.x + 1.0) / 2.0 * f64::from(k.width);
            let v = (1.0 - ndc.y) / 2.0 * f64::from(k.height);
            let [pu, pv] = k.project(&p).unwrap();
            assert!((u - pu).abs() < 1e-9 && (v - pv).abs() < 1e-9);
            assert!((clip.w - p.z).abs() < 1e-12);
            assert!((-1e-12..=1.0 + 1e-12).contains(&ndc.z));
        }
        let near = m * Vector4::new(0.0, 0.0, NEAR, 1.0);
        let far = m * Vector4::new(0.0, 0.0, FAR, 1.0);
        assert!((near.z / near.w).abs() < 1e-12);
        assert!((far.z / far.w - 1.0).abs() < 1e-12);
    }

    #[test]
    fn camera_projects_world_points() {
        let c = CameraView {
            name: "tilted".into(),
            intrinsics: intrinsics(),
            world_from_camera: Isometry3::new(
                Vector3::new(0.1, -0.2, 0.5),
                Vector3::new(0.3, -0.2, 0.1),
            ),
        };
        let world = Point3::new(0.15, -0.1, 1.2);
        let p = c.world_from_camera.inverse_transform_point(&world);
        let [u, v] = c.project(&world).unwrap();
        let k = &c.intrinsics;
        assert!((u - (k.fx * p.x / p.z + k.cx)).abs() < 1e-9);
        assert!((v - (k.fy * p.y / p.z + k.cy)).abs() < 1e-9);
        assert!(
            c.project(&(c.world_from_camera * Point3::new(0.0, 0.0, -1.0)))
                .is_none()
        );
    }

    #[test]
    fn bad_intrinsics_are_reported() {
        let mut k = intrinsics();
        k.width = 0;
        assert!(k.check().unwrap_err().contains("zero"));
        let mut k = intrinsics();
        k.fx = f64::NAN;
        assert!(k.check().unwrap_err().contains("fx"));
        let mut k = intrinsics();
        k.fy = -3.0;
        assert!(k.check().is_err());
        assert!(intrinsics().check().is_ok());
    }

    fn front_camera() -> CameraView {
        CameraView {
            name: "c".into(),
            intrinsics: intrinsics(),
            world_from_camera: Isometry3::identity(),
        }
    }

    #[test]
    fn entry_and_camera_blocks_have_the_shader_sizes() {
        let mut d = Drawable {
            primitive: Primitive::Cylinder {
                radius: 0.1,
                half_height: 0.2,
            },
            pose: Isometry3::translation(0.1, 0.0, 2.0),
            color: [0.1, 0.2, 0.3],
            checker: Some(0.01),
        };
        let c = front_camera();
        let mut b = Vec::new();
        Placed::new(&c, &d).unwrap().push(&mut b, [0.0, 0.0, 1.0]);
        assert_eq!(b.len() as u64, ENTRY_SIZE);
        // Behind the camera: no entry.
        d.pose = Isometry3::translation(0.1, 0.0, -2.0);
        assert!(Placed::new(&c, &d).is_none());
        let mut b = Vec::new();
        push_camera(&mut b, &c, &light_terms(&Lighting::default()).unwrap());
        assert_eq!(b.len() as u64, CAMERA_UNIFORM_SIZE);
    }

    #[test]
    fn screen_rectangles_bound_the_projection() {
        let k = intrinsics();
        let pose = Isometry3::new(Vector3::new(0.05, -0.03, 0.6), Vector3::new(0.4, 0.9, -0.3));
        let h = [0.02f32, 0.05, 0.03];
        let [x0, y0, x1, y1] = screen_rect(&k, &pose, h).unwrap();
        assert!(x0 < x1 && y0 < y1);
        // Points all over the box project inside, at least half a pixel from the edges.
        let (w, hh) = (f64::from(k.width), f64::from(k.height));
        for i in 0..=10 {
            for j in 0..=10 {
                for l in 0..=10 {
                    let f = |n: i32, s: f32| (f64::from(n) / 5.0 - 1.0) * f64::from(s);
                    let p = pose * Point3::new(f(i, h[0]), f(j, h[1]), f(l, h[2]));
                    let [u, v] = k.project(&p).unwrap();
                    let (x, y) = (2.0 * u / w - 1.0, 1.0 - 2.0 * v / hh);
                    assert!(
                        x > x0 + 1.0 / w && x < x1 - 1.0 / w,
                        "x {x} outside [{x0}, {x1}]"
                    );
                    assert!(
                        y > y0 + 1.0 / hh && y < y1 - 1.0 / hh,
                        "y {y} outside [{y0}, {y1}]"
                    );
                }
            }
        }
        // Across the near plane: the whole image; off to the side or beyond FAR: nothing.
        let crossing = Isometry3::translation(0.0, 0.0, 0.01);
        assert_eq!(screen_rect(&k, &crossing, h), Some([-1.0, -1.0, 1.0, 1.0]));
        assert_eq!(
            screen_rect(&k, &Isometry3::translation(5.0, 0.0, 0.5), h),
            None
        );
        assert_eq!(
            screen_rect(&k, &Isometry3::translation(0.0, 0.0, FAR + 1.0), h),
            None
        );
    }

    #[test]
    fn lighting_is_validated() {
        let mut l = Lighting::default();
        let (to_light, _, _) = light_terms(&l).unwrap();
        assert!(to_light[2] > 0.0, "default light comes from above");
        l.direction = [0.0; 3];
        assert!(light_terms(&l).is_err());
        l.direction = [f32::NAN, 0.0, -1.0];
        assert!(light_terms(&l).is_err());
    }

    #[test]
    fn drawables_are_validated() {
        let mut d = Drawable {
            primitive: Primitive::Sphere { radius: 0.0 },
            pose: Isometry3::identity(),
            color: [1.0; 3],
            checker: None,
        };
        assert!(check_drawable(&d).is_err());
        d.primitive = Primitive::Sphere { radius: 0.1 };
        assert!(check_drawable(&d).is_ok());
        d.checker = Some(-1.0);
        assert!(check_drawable(&d).is_err());
    }
}
