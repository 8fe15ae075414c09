package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.purchase.refunded.v1, published on loyalty.in.purchase-refunded.<key>:
//
//	"data": {"member_id": "m-1", "order_id": "o-1", "amount": 2500, "currency": "EUR",
//	         "lines": [{"sku": "A1", "quantity": 1}]}
//
// amount and currency come as a pair; a refund needs the pair, lines, or
// both.
var purchaseRefunded = withSize(newEventCodec("purchase-refunded", 3, decodeRefund, encodeRefund, digestRefund), refundSize)

func decodeRefund(o object) (b domain.Refund, err error) {
	if b.OrderID, err = o.requiredString("order_id"); err != nil {
		return b, err
	}
	items, err := o.objects("lines")
	if err != nil {
		return b, err
	}
	for i := range items.len() {
		l := items.at(i)
		var line domain.RefundLine
		if line.SKU, err = l.requiredString("sku"); err != nil {
			return b, err
		}
		if line.Quantity, err = l.requiredAmount("quantity"); err != nil {
			return b, err
		}
		if i == 0 {
			b.Lines = make([]domain.RefundLine, 0, items.len())
		}
		b.Lines = append(b.Lines, line)
	}
	minor, hasAmount, err := o.optionalAmount("amount")
	if err != nil {
		return b, err
	}
	currency, hasCurrency, err := o.optionalString("currency")
	switch {
	case err != nil:
		return b, err
	case hasAmount && !hasCurrency:
		return b, rejectWire(domain.ReasonMissingField, "currency", "is required with amount")
	case hasCurrency && !hasAmount:
		return b, rejectWire(domain.ReasonMissingField, "amount", "is required with currency")
	case !hasAmount && len(b.Lines) == 0:
		return b, rejectWire(domain.ReasonMissingField, "amount", "a refund needs amount and currency, or lines")
	}
	b.Amount = domain.Money{Minor: minor, Currency: currency}
	return b, nil
}

func encodeRefund(b []byte, body domain.Refund) ([]byte, error) {
	var strs utf8Check
	strs.check("order_id", body.OrderID)
	strs.check("currency", body.Amount.Currency)
	b = append(b, `,"order_id":`...)
	b = appendJSONString(b, body.OrderID, false)
	if body.Amount != (domain.Money{}) || len(body.Lines) == 0 {
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, body.Amount.Minor, 10)
		b = append(b, `,"currency":`...)
		b = appendJSONString(b, body.Amount.Currency, false)
	}
	for i, l := range body.Lines {
		strs.check("lines.sku", l.SKU)
		if i == 0 {
			b = append(b, `,"lines":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"sku":`...)
		b = appendJSONString(b, l.SKU, false)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, l.Quantity, 10)
		b = append(b, '}')
	}
	if len(body.Lines) > 0 {
		b = append(b, ']')
	}
	return b, strs.err
}

func refundSize(body domain.Refund) int { return len(body.OrderID) + 96 + 48*len(body.Lines) }

func digestRefund(d *digest, b domain.Refund) {
	d.str(b.OrderID)
	d.int(b.Amount.Minor)
	d.str(b.Amount.Currency)
	d.uint(uint64(len(b.Lines)))
	for _, l := range b.Lines {
		d.str(l.SKU)
		d.int(l.Quantity)
	}
}
