//! The last drawn frame, kept in a texture so that a frame with no change
//! only shows it again.

use macroquad::prelude::*;

/// The last drawn frame, kept in a texture: a frame with no change only
/// shows it again instead of drawing the whole interface. The interface is
/// drawn when something changed, when the caret blinks, every second while
/// a countdown is on screen, and once a minute anyway.
#[derive(Default)]
pub struct Canvas {
    target: Option<RenderTarget>,
    /// Copies the texture without blending (cheaper for software GL).
    opaque: Option<Material>,
    size: (u32, u32),
    rendered_at: f64,
    caret_on: bool,
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canvas")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Canvas {
    /// Whether this frame must draw the interface.
    pub fn needs_render(&mut self, dirty: bool, caret_on: bool, periodic: bool, now: f64) -> bool {
        let size = (
            screen_width().max(1.0) as u32,
            screen_height().max(1.0) as u32,
        );
        let every = if periodic { 1.0 } else { 60.0 };
        let due = dirty
            || self.target.is_none()
            || size != self.size
            || caret_on != self.caret_on
            || now - self.rendered_at >= every;
        self.caret_on = caret_on;
        due
    }

    /// Directs drawing into the texture (made or resized as needed).
    pub fn begin(&mut self) {
        let size = (
            screen_width().max(1.0) as u32,
            screen_height().max(1.0) as u32,
        );
        if self.target.is_none() || self.size != size {
            let target = render_target(size.0, size.1);
            target.texture.set_filter(FilterMode::Nearest);
            self.target = Some(target);
            self.size = size;
        }
        let mut camera =
            Camera2D::from_display_rect(Rect::new(0.0, 0.0, size.0 as f32, size.1 as f32));
        camera.render_target = self.target.clone();
        set_camera(&camera);
    }

    /// Back to drawing on the window.
    pub fn end(&mut self, now: f64) {
        set_default_camera();
        self.rendered_at = now;
    }

    /// Shows the last drawn frame.
    pub fn present(&mut self) {
        if self.opaque.is_none() {
            self.opaque = load_material(
                ShaderSource::Glsl {
                    vertex: OPAQUE_VERTEX,
                    fragment: OPAQUE_FRAGMENT,
                },
                MaterialParams::default(),
            )
            .ok();
        }
        if let Some(material) = &self.opaque {
            gl_use_material(material);
        }
        if let Some(target) = &self.target {
            draw_texture_ex(
                &target.texture,
                0.0,
                0.0,
                WHITE,
                DrawTextureParams {
                    dest_size: Some(vec2(self.size.0 as f32, self.size.1 as f32)),
                    flip_y: true,
                    ..Default::default()
                },
            );
        }
        gl_use_default_material();
    }
}

const OPAQUE_VERTEX: &str = r#"#version 100
attribute vec3 position;
attribute vec2 texcoord;
varying lowp vec2 uv;
uniform mat4 Model;
uniform mat4 Projection;
void main() {
    gl_Position = Projection * Model * vec4(position, 1);
    uv = texcoord;
}"#;

const OPAQUE_FRAGMENT: &str = r#"#version 100
varying lowp vec2 uv;
uniform sampler2D Texture;
void main() {
    gl_FragColor = texture2D(Texture, uv);
}"#;
