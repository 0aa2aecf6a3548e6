//! One op for the elementwise part of an LSTM or GRU step.
//!
//! A cell written with autograd ops records about fifteen small ops per time
//! step (cut the gates apart, three sigmoids, two tanhs, products, sums),
//! each allocating its output and each with its own backward rule: on a
//! `[16 x 128]` shard of a batch the bookkeeping costs as much as the
//! arithmetic. Here the same equations run as **one** op per step, in one
//! pass over the gates, with a backward rule written out by hand from the
//! chain rule. The recurrent product before it is one op too
//! ([`Var::matmul_add_packed`]: `h W_hh^T + x_t W_ih^T + b`).
//!
//! The composed cells ([`LstmCell`](crate::LstmCell), [`GruCell`](crate::GruCell))
//! stay the reference a reader studies; `tests/fused_cells.rs` proves the
//! fused steps give the same values and gradients through the whole
//! sequence layer, and the gradient checks of the layers run through them.

use autograd::{GradientPiece, Var};
use smallvec::smallvec;
use tensor::fast::simd::WideLoop;
use tensor::{Element, Tensor};

/// The tensor itself if it is contiguous, else a contiguous copy: either
/// way its values are one slice, `.as_slice().unwrap()`.
fn dense<T: Element>(t: &Tensor<T>) -> Tensor<T> {
    if t.is_contiguous() {
        t.clone()
    } else {
        t.contiguous()
    }
}

/// `out[j] = f(input[j])`: one pass the compiler turns into vector code.
#[inline(always)]
fn map_into<T: Element>(out: &mut [T], input: &[T], f: impl Fn(T) -> T) {
    for (o, &x) in out.iter_mut().zip(input) {
        *o = f(x);
    }
}

/// Cuts a row into its `N` gate blocks of `hidden` values.
#[inline(always)]
fn blocks<const N: usize, T>(row: &[T], hidden: usize) -> [&[T]; N] {
    std::array::from_fn(|k| &row[k * hidden..(k + 1) * hidden])
}

/// Cuts a row into its `N` gate blocks of `hidden` values, mutably.
#[inline(always)]
fn blocks_mut<const N: usize, T>(row: &mut [T], hidden: usize) -> [&mut [T]; N] {
    let mut rest = row;
    std::array::from_fn(|_| {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(hidden);
        rest = tail;
        block
    })
}

/// A full-shape gradient piece.
fn piece<T: Element>(values: Vec<T>, shape: &[usize]) -> Option<GradientPiece<T>> {
    Some(GradientPiece::Full(Tensor::from_vec(values, shape)))
}

/// One LSTM step from the gate pre-activations `gates: [B, 4H]` (blocks
/// `i, f, g, o`) and the previous cell state `c: [B, H]`; returns `(h', c')`:
///
/// ```text
/// i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)
/// c' = f c + i g          h' = o tanh(c')
/// ```
///
/// Backward, with `dh'` and `dc'` given and `t = tanh(c')`:
///
/// ```text
/// dc  = dc' + dh' o (1 - t²)       the cell state's total gradient
/// da_i = dc g i (1 - i)    da_f = dc c f (1 - f)    da_g = dc i (1 - g²)
/// da_o = dh' t o (1 - o)   dc_prev = dc f
/// ```
///
/// # Panics
/// If `gates` is not `[B, 4H]` with `c` `[B, H]`.
pub fn lstm_step<T: Element>(gates: &Var<T>, c: &Var<T>) -> (Var<T>, Var<T>) {
    let (batch, hidden) = (c.dim(0), c.dim(1));
    assert!(
        c.ndim() == 2 && gates.shape() == [batch, 4 * hidden],
        "lstm_step: gates {:?} and cell state {:?} must be [B, 4H] and [B, H]",
        gates.shape(),
        c.shape()
    );
    let (a, c_prev) = (dense(gates.value()), dense(c.value()));
    // Saved for backward: the activations i, f, g, o, and tanh(c').
    let mut act = vec![T::ZERO; batch * 4 * hidden];
    let mut tanh_c = vec![T::ZERO; batch * hidden];
    // The output: h' and c' side by side, [B, 2H].
    let mut hc = vec![T::ZERO; batch * 2 * hidden];
    tensor::fast::simd::wide(LstmForward {
        a: a.as_slice().expect("dense"),
        c_prev: c_prev.as_slice().expect("dense"),
        act: &mut act,
        tanh_c: &mut tanh_c,
        hc: &mut hc,
        hidden,
    });
    let saved = vec![
        Tensor::from_vec(act, &[batch, 4 * hidden]),
        c_prev,
        Tensor::from_vec(tanh_c, &[batch, hidden]),
    ];
    let hc = Tensor::from_vec(hc, &[batch, 2 * hidden]);
    let out = gates
        .tape()
        .record("lstm_step", hc, &[gates, c], saved, move |input| {
            let grad = dense(&input.grad_output);
            let [act, c_prev, tanh_c] = input
                .saved_tensors()
                .map(|t| t.as_slice().expect("contiguous"));
            let mut d_gates = vec![T::ZERO; batch * 4 * hidden];
            let mut d_c_prev = vec![T::ZERO; batch * hidden];
            tensor::fast::simd::wide(LstmBackward {
                grad: grad.as_slice().expect("dense"),
                act,
                c_prev,
                tanh_c,
                d_gates: &mut d_gates,
                d_c_prev: &mut d_c_prev,
                hidden,
            });
            smallvec![
                piece(d_gates, &[batch, 4 * hidden]),
                piece(d_c_prev, &[batch, hidden]),
            ]
        });
    (out.narrow(1, 0, hidden), out.narrow(1, hidden, hidden))
}

/// One GRU step (PyTorch's formulation) from the projected input
/// `x: [B, 3H]` (`x W_ih^T + b_ih`, blocks `r, z, n`), the recurrent part
/// `m: [B, 3H]` (`h W_hh^T + b_hh`) and the previous state `h: [B, H]`:
///
/// ```text
/// r = σ(x_r + m_r)   z = σ(x_z + m_z)   n = tanh(x_n + r m_n)
/// h' = (1 - z) n + z h
/// ```
///
/// Backward, with `dh'` given and `da_n = dh' (1 - z) (1 - n²)`:
///
/// ```text
/// dx_n = da_n          dm_n = da_n r      dh = dh' z
/// da_z = (dh' h - dh' n) z (1 - z)          dx_z = dm_z = da_z
/// da_r = da_n m_n r (1 - r)                  dx_r = dm_r = da_r
/// ```
///
/// # Panics
/// If `x` or `m` is not `[B, 3H]` with `h` `[B, H]`.
pub fn gru_step<T: Element>(x: &Var<T>, m: &Var<T>, h: &Var<T>) -> Var<T> {
    let (batch, hidden) = (h.dim(0), h.dim(1));
    assert!(
        h.ndim() == 2 && x.shape() == [batch, 3 * hidden] && m.shape() == [batch, 3 * hidden],
        "gru_step: projected input {:?}, recurrent part {:?} and state {:?} must be [B, 3H], [B, 3H], [B, H]",
        x.shape(),
        m.shape(),
        h.shape()
    );
    let (xs, ms, hs) = (dense(x.value()), dense(m.value()), dense(h.value()));
    // Saved for backward: r, z, n.
    let mut act = vec![T::ZERO; batch * 3 * hidden];
    let mut out = vec![T::ZERO; batch * hidden];
    tensor::fast::simd::wide(GruForward {
        x: xs.as_slice().expect("dense"),
        m: ms.as_slice().expect("dense"),
        h: hs.as_slice().expect("dense"),
        act: &mut act,
        out: &mut out,
        hidden,
    });
    let saved = vec![Tensor::from_vec(act, &[batch, 3 * hidden]), ms, hs];
    x.tape().record(
        "gru_step",
        Tensor::from_vec(out, &[batch, hidden]),
        &[x, m, h],
        saved,
        move |input| {
            let grad = dense(&input.grad_output);
            let [act, ms, hs] = input
                .saved_tensors()
                .map(|t| t.as_slice().expect("contiguous"));
            let mut dx = vec![T::ZERO; batch * 3 * hidden];
            let mut dm = vec![T::ZERO; batch * 3 * hidden];
            let mut dh = vec![T::ZERO; batch * hidden];
            tensor::fast::simd::wide(GruBackward {
                grad: grad.as_slice().expect("dense"),
                act,
                m: ms,
                h: hs,
                dx: &mut dx,
                dm: &mut dm,
                dh: &mut dh,
                hidden,
            });
            smallvec![
                piece(dx, &[batch, 3 * hidden]),
                piece(dm, &[batch, 3 * hidden]),
                piece(dh, &[batch, hidden]),
            ]
        },
    )
}

// The loops of the two steps, each run with the widest vectors
// (`tensor::fast::simd::wide`): one pass per line of the equations, over a row's
// gate blocks, in the order the composed cells compute them.

/// The LSTM step's forward loop (see [`lstm_step`]).
struct LstmForward<'a, T> {
    a: &'a [T],
    c_prev: &'a [T],
    act: &'a mut [T],
    tanh_c: &'a mut [T],
    hc: &'a mut [T],
    hidden: usize,
}

impl<T: Element> WideLoop for LstmForward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let hidden = self.hidden;
        let rows = self
            .a
            .chunks(4 * hidden)
            .zip(self.act.chunks_mut(4 * hidden))
            .zip(
                self.c_prev
                    .chunks(hidden)
                    .zip(self.tanh_c.chunks_mut(hidden)),
            )
            .zip(self.hc.chunks_mut(2 * hidden));
        for (((a, act), (c_prev, tanh_c)), hc) in rows {
            let [a_i, a_f, a_g, a_o] = blocks(a, hidden);
            let [i, f, g, o] = blocks_mut(act, hidden);
            map_into(i, a_i, T::sigmoid);
            map_into(f, a_f, T::sigmoid);
            map_into(g, a_g, T::tanh);
            map_into(o, a_o, T::sigmoid);
            let [h_next, c_next] = blocks_mut(hc, hidden);
            for (((c, (&f, &cp)), &i), &g) in c_next
                .iter_mut()
                .zip(f.iter().zip(c_prev))
                .zip(&*i)
                .zip(&*g)
            {
                *c = f * cp + i * g;
            }
            map_into(tanh_c, c_next, T::tanh);
            for ((h, &o), &t) in h_next.iter_mut().zip(&*o).zip(&*tanh_c) {
                *h = o * t;
            }
        }
    }
}

/// The LSTM step's backward loop (see [`lstm_step`]).
struct LstmBackward<'a, T> {
    grad: &'a [T],
    act: &'a [T],
    c_prev: &'a [T],
    tanh_c: &'a [T],
    d_gates: &'a mut [T],
    d_c_prev: &'a mut [T],
    hidden: usize,
}

impl<T: Element> WideLoop for LstmBackward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let hidden = self.hidden;
        let mut dc = vec![T::ZERO; hidden];
        let rows = self
            .grad
            .chunks(2 * hidden)
            .zip(self.act.chunks(4 * hidden))
            .zip(self.c_prev.chunks(hidden).zip(self.tanh_c.chunks(hidden)))
            .zip(
                self.d_gates
                    .chunks_mut(4 * hidden)
                    .zip(self.d_c_prev.chunks_mut(hidden)),
            );
        for (((grad, act), (c_prev, tanh_c)), (d, d_c_prev)) in rows {
            let [dh, dc_next] = blocks(grad, hidden);
            let [i, f, g, o] = blocks(act, hidden);
            let [d_i, d_f, d_g, d_o] = blocks_mut(d, hidden);
            for (((dc, &dc_next), (&dh, &o)), &t) in
                dc.iter_mut().zip(dc_next).zip(dh.iter().zip(o)).zip(tanh_c)
            {
                *dc = dc_next + dh * o * (T::ONE - t * t);
            }
            for (((d_i, &dc), &g), &i) in d_i.iter_mut().zip(&dc).zip(g).zip(i) {
                *d_i = dc * g * i * (T::ONE - i);
            }
            for (((d_f, &dc), &cp), &f) in d_f.iter_mut().zip(&dc).zip(c_prev).zip(f) {
                *d_f = dc * cp * f * (T::ONE - f);
            }
            for (((d_g, &dc), &i), &g) in d_g.iter_mut().zip(&dc).zip(i).zip(g) {
                *d_g = dc * i * (T::ONE - g * g);
            }
            for (((d_o, &dh), &t), &o) in d_o.iter_mut().zip(dh).zip(tanh_c).zip(o) {
                *d_o = dh * t * o * (T::ONE - o);
            }
            for ((d_c_prev, &dc), &f) in d_c_prev.iter_mut().zip(&dc).zip(f) {
                *d_c_prev = dc * f;
            }
        }
    }
}

/// The GRU step's forward loop (see [`gru_step`]).
struct GruForward<'a, T> {
    x: &'a [T],
    m: &'a [T],
    h: &'a [T],
    act: &'a mut [T],
    out: &'a mut [T],
    hidden: usize,
}

impl<T: Element> WideLoop for GruForward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let hidden = self.hidden;
        let rows = self
            .x
            .chunks(3 * hidden)
            .zip(self.m.chunks(3 * hidden))
            .zip(self.act.chunks_mut(3 * hidden))
            .zip(self.h.chunks(hidden).zip(self.out.chunks_mut(hidden)));
        for (((x, m), act), (h, out)) in rows {
            let [x_r, x_z, x_n] = blocks(x, hidden);
            let [m_r, m_z, m_n] = blocks(m, hidden);
            let [r, z, n] = blocks_mut(act, hidden);
            for ((r, &x), &m) in r.iter_mut().zip(x_r).zip(m_r) {
                *r = (x + m).sigmoid();
            }
            for ((z, &x), &m) in z.iter_mut().zip(x_z).zip(m_z) {
                *z = (x + m).sigmoid();
            }
            for (((n, &x), &m), &r) in n.iter_mut().zip(x_n).zip(m_n).zip(&*r) {
                *n = (x + r * m).tanh();
            }
            for (((out, &z), &n), &h) in out.iter_mut().zip(&*z).zip(&*n).zip(h) {
                *out = (T::ONE - z) * n + z * h;
            }
        }
    }
}

/// The GRU step's backward loop (see [`gru_step`]).
struct GruBackward<'a, T> {
    grad: &'a [T],
    act: &'a [T],
    m: &'a [T],
    h: &'a [T],
    dx: &'a mut [T],
    dm: &'a mut [T],
    dh: &'a mut [T],
    hidden: usize,
}

impl<T: Element> WideLoop for GruBackward<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let hidden = self.hidden;
        let rows = self
            .grad
            .chunks(hidden)
            .zip(self.act.chunks(3 * hidden))
            .zip(self.m.chunks(3 * hidden).zip(self.h.chunks(hidden)))
            .zip(
                self.dx
                    .chunks_mut(3 * hidden)
                    .zip(self.dm.chunks_mut(3 * hidden)),
            )
            .zip(self.dh.chunks_mut(hidden));
        for ((((g, act), (m, h)), (dx, dm)), dh) in rows {
            let [r, z, n] = blocks(act, hidden);
            let m_n = &m[2 * hidden..];
            let [dx_r, dx_z, dx_n] = blocks_mut(dx, hidden);
            let [dm_r, dm_z, dm_n] = blocks_mut(dm, hidden);
            for (((dx_n, &g), &z), &n) in dx_n.iter_mut().zip(g).zip(z).zip(n) {
                *dx_n = g * (T::ONE - z) * (T::ONE - n * n);
            }
            for ((((dx_z, &g), &h), &n), &z) in dx_z.iter_mut().zip(g).zip(h).zip(n).zip(z) {
                let dz = g * h - g * n;
                *dx_z = dz * z * (T::ONE - z);
            }
            for (((dx_r, &da_n), &m_n), &r) in dx_r.iter_mut().zip(&*dx_n).zip(m_n).zip(r) {
                *dx_r = da_n * m_n * r * (T::ONE - r);
            }
            dm_r.copy_from_slice(dx_r);
            dm_z.copy_from_slice(dx_z);
            for ((dm_n, &da_n), &r) in dm_n.iter_mut().zip(&*dx_n).zip(r) {
                *dm_n = da_n * r;
            }
            for ((dh, &g), &z) in dh.iter_mut().zip(g).zip(z) {
                *dh = g * z;
            }
        }
    }
}
