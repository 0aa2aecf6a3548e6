//! A right operand packed once, for many products with the same matrix.
//!
//! A recurrent layer multiplies by the same `W_hh^T` at every time step:
//! `h_1 W, h_2 W, ..., h_T W`. The plain [`gemm`](super::gemm) packs `W`
//! again for each of them (loop 4 of the five loops), and for a step's small
//! `[16 x 128] @ [128 x 512]` product that copy is a large share of the work:
//! every packed value of `W` is used by only 16 rows. [`PackedMatrix`] does
//! that packing once; [`Tensor::matmul_packed`] then runs loops 3 to 1 on
//! the stored panels.
//!
//! **The same numbers.** The panels hold exactly what `gemm` would pack,
//! blocked along the depth exactly as `gemm` blocks it (the depth blocking,
//! the one choice that changes the arithmetic, depends only on `k`), and the
//! same micro-kernel runs on them. So `a.matmul_packed(&PackedMatrix::new(&b))`
//! equals `a.matmul(&b)` bit for bit (tested below and in `tests/reference.rs`).
//!
//! **Threads.** A product big enough for several threads is cut into blocks
//! of rows of `A` (never of the depth), and every thread reads the one set of
//! panels: results are the same for any thread count.

use super::kernel::{Kernel, MicroKernel};
use super::macro_kernel::CView;
use super::parallel::{even_cuts, for_each_block, plan_threads, with_workspace};
use super::{balanced_block, rows_times_packed_block, split_workspace, MatMut, MatRef};
use crate::scalar::Element;
use crate::tensor::Tensor;

/// A `k x n` matrix `B` packed for the micro-kernel, once, to be the right
/// operand of many products ([`Tensor::matmul_packed`]).
///
/// ```
/// use tensor::fast::matmul::PackedMatrix;
/// use tensor::Tensor;
///
/// let w = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
/// let packed = PackedMatrix::new(&w);
/// for step in 0..3 {
///     let h = Tensor::from_vec(vec![step as f32, 1.0], &[1, 2]);
///     assert_eq!(h.matmul_packed(&packed), h.matmul(&w)); // bit for bit
/// }
/// ```
#[derive(Clone, Debug)]
pub struct PackedMatrix<T: Element> {
    kernel: Kernel,
    rows: usize,
    cols: usize,
    /// The depth block (`KC`) and column panel (`NC`) the panels were cut with.
    depth_block: usize,
    panel_cols: usize,
    /// The packed blocks, panel by panel (`jc`), depth block by depth block
    /// (`pc`) within a panel: the order loop 5 and loop 4 visit them.
    panels: Vec<T>,
}

impl<T: Element> PackedMatrix<T> {
    /// Packs the 2-D tensor `b` (any strides) for the fastest kernel of this CPU.
    ///
    /// # Panics
    /// If `b` is not 2-D.
    pub fn new(b: &Tensor<T>) -> Self {
        assert!(
            b.ndim() == 2,
            "PackedMatrix::new: needs a matrix, got shape {:?}",
            b.shape()
        );
        let kernel = Kernel::detected();
        let micro = T::micro_kernel(kernel);
        let (rows, cols) = (b.dim(0), b.dim(1));
        let b = MatRef::new(
            b.storage(),
            b.offset(),
            rows,
            cols,
            b.strides()[0],
            b.strides()[1],
        );
        // The blocking of `gemm_serial` for a product with this B.
        let depth_block = balanced_block(rows, micro.kc, 1).max(1);
        let panel_cols = balanced_block(cols, micro.nc, micro.nr).max(micro.nr);
        let mut panels = Vec::with_capacity(cols.div_ceil(micro.nr) * micro.nr * rows);
        for jc in (0..cols).step_by(panel_cols) {
            let panel_width = panel_cols.min(cols - jc);
            for pc in (0..rows).step_by(depth_block) {
                let depth = depth_block.min(rows - pc);
                let start = panels.len();
                panels.resize(
                    start + panel_width.div_ceil(micro.nr) * micro.nr * depth,
                    T::ZERO,
                );
                (micro.pack_b)(b.block(pc, depth, jc, panel_width), &mut panels[start..]);
            }
        }
        PackedMatrix {
            kernel,
            rows,
            cols,
            depth_block,
            panel_cols,
            panels,
        }
    }

    /// `k`, the rows of `B`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `n`, the columns of `B`.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The packed block of columns `jc..` and depth `pc..`, and its width.
    fn block(&self, micro: &MicroKernel<T>, jc: usize, pc: usize) -> &[T] {
        let padded = |cols: usize| cols.div_ceil(micro.nr) * micro.nr;
        // Whole panels before this one, then whole depth blocks of this panel.
        let before_panel = padded(self.panel_cols) * self.rows * (jc / self.panel_cols);
        let width = padded(self.panel_cols.min(self.cols - jc));
        let start = before_panel + width * pc;
        let depth = self.depth_block.min(self.rows - pc);
        &self.panels[start..start + width * depth]
    }
}

impl<T: Element> Tensor<T> {
    /// `self @ B` for a [`PackedMatrix`] `B`, bitwise equal to
    /// `self.matmul(&b)`: the stored panels are what the plain product packs,
    /// blocked along the depth as it blocks it, and the same micro-kernel
    /// runs on them.
    ///
    /// # Panics
    /// If `self` is not 2-D or its columns are not `B`'s rows; the message
    /// names `matmul_packed` and both shapes.
    pub fn matmul_packed(&self, b: &PackedMatrix<T>) -> Tensor<T> {
        assert!(
            self.ndim() == 2 && self.dim(1) == b.rows,
            "matmul_packed: shapes {:?} and [{}, {}] cannot be multiplied",
            self.shape(),
            b.rows,
            b.cols
        );
        let (m, k, n) = (self.dim(0), b.rows, b.cols);
        let mut out = vec![T::ZERO; m * n];
        if m == 0 || n == 0 || k == 0 {
            return Tensor::from_vec(out, &[m, n]);
        }
        let a = MatRef::new(
            self.storage(),
            self.offset(),
            m,
            k,
            self.strides()[0],
            self.strides()[1],
        );
        let micro = T::micro_kernel(b.kernel);
        let c = CView::new(MatMut::from_slice(&mut out, m, n));
        let threads = plan_threads(None, m, n, k, m.div_ceil(micro.mr));
        if threads == 1 {
            with_workspace(0, |buffer| rows_times_packed(&micro, a, b, c, buffer));
        } else {
            // Blocks of rows of A and C; every member reads the same panels.
            let cuts = even_cuts(m, micro.mr, threads);
            for_each_block(
                threads,
                c,
                &cuts,
                CView::split_rows,
                &|start, size, c_part| {
                    with_workspace(0, |buffer| {
                        rows_times_packed(&micro, a.block(start, size, 0, k), b, c_part, buffer)
                    });
                },
            );
        }
        Tensor::from_vec(out, &[m, n])
    }
}

/// Loops 5 to 1 of `gemm_serial` with `alpha = 1` and `beta = 0`, B's
/// packing replaced by a look-up of the stored block.
fn rows_times_packed<T: Element>(
    micro: &MicroKernel<T>,
    a: MatRef<'_, T>,
    b: &PackedMatrix<T>,
    mut c: CView<'_, T>,
    workspace: &mut Vec<T>,
) {
    let (m, k, n) = (a.rows, b.rows, b.cols);
    let kc = b.depth_block;
    let mc = balanced_block(m, micro.mc, micro.mr);
    let (a_packed, _) = split_workspace(workspace, mc * kc, 0);
    for jc in (0..n).step_by(b.panel_cols) {
        let ncb = b.panel_cols.min(n - jc);
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let beta = if pc == 0 { T::ZERO } else { T::ONE };
            rows_times_packed_block(
                micro,
                T::ONE,
                a.block(0, m, pc, kcb),
                b.block(micro, jc, pc),
                beta,
                &mut c.block(0, m, jc, ncb),
                a_packed,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn random(shape: &[usize], seed: u64) -> Tensor<f32> {
        Tensor::rand_normal(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
    }

    #[test]
    fn equals_matmul_bit_for_bit_for_many_shapes() {
        // Depths below, at and above the depth block; widths that leave a
        // partial sliver; row counts for one and for several threads.
        for (m, k, n) in [
            (1, 1, 1),
            (16, 128, 512),
            (16, 512, 128),
            (64, 128, 512),
            (64, 512, 128),
            (7, 300, 45),
            (200, 700, 33),
            (3, 5000, 1125),
            (2, 20, 5000), // two column panels
        ] {
            let (a, b) = (random(&[m, k], 1), random(&[k, n], 2));
            let packed = PackedMatrix::new(&b);
            assert_eq!(a.matmul_packed(&packed), a.matmul(&b), "{m}x{k}x{n}");
        }
    }

    #[test]
    fn strided_operands_are_packed_where_they_lie() {
        // Transposed views on both sides, and a slice of rows on the left.
        let (a, b) = (random(&[96, 10], 3).t(), random(&[40, 96], 4).t());
        let packed = PackedMatrix::new(&b);
        assert_eq!(a.matmul_packed(&packed), a.matmul(&b));
        let sliced = random(&[20, 96], 5).narrow(0, 5, 10);
        assert_eq!(sliced.matmul_packed(&packed), sliced.matmul(&b));
    }

    #[test]
    #[should_panic(expected = "matmul_packed: shapes [2, 3] and [4, 5]")]
    fn mismatched_shapes_name_the_op_and_both_shapes() {
        let packed = PackedMatrix::new(&Tensor::<f32>::zeros(&[4, 5]));
        let _ = Tensor::<f32>::zeros(&[2, 3]).matmul_packed(&packed);
    }
}
